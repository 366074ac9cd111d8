import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

const skiff = fileURLToPath(new URL("../../bin/skiff.js", import.meta.url));

test("`skiff trace-store --port 0` serves the Zipkin API on loopback and stops on SIGTERM", async () => {
  const child = spawn(process.execPath, [skiff, "trace-store", "--port", "0"], { stdio: ["ignore", "pipe", "pipe"] });
  try {
    const url = await new Promise<string>((resolve, reject) => {
      let out = "";
      const timer = setTimeout(() => reject(new Error(`no listening line; stdout so far: ${out}`)), 20_000);
      child.stdout.on("data", (d: Buffer) => {
        out += d.toString();
        const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]);
        }
      });
      child.once("exit", (code) => reject(new Error(`exited early with ${code}`)));
    });
    const span = { traceId: "4bf92f3577b34da6a3ce929d0e0e4736", id: "00f067aa0ba902b7", name: "GET /", timestamp: 1, duration: 2, localEndpoint: { serviceName: "Web" } };
    const post = await fetch(`${url}/api/v2/spans`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify([span]) });
    assert.equal(post.status, 202);
    assert.deepEqual(await (await fetch(`${url}/api/v2/services`)).json(), ["web"]);
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    child.kill("SIGTERM");
    assert.equal(await exited, 0);
  } finally {
    if (child.exitCode === null) child.kill("SIGKILL");
  }
});

test("`skiff trace-store` rejects a bad port with a one-line message", async () => {
  const child = spawn(process.execPath, [skiff, "trace-store", "--port", "99999"], { stdio: ["ignore", "pipe", "pipe"] });
  let err = "";
  child.stderr.on("data", (d: Buffer) => (err += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.once("exit", (c) => resolve(c)));
  assert.equal(code, 2);
  assert.match(err, /--port must be a port number 0-65535, not "99999"/);
  assert.doesNotMatch(err, /\n\s+at /);
});
