// `skiff control-plane` and `skiff proxy-status` as real processes.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { fileURLToPath } from "node:url";
import { once } from "node:events";
import { TypeUrl } from "../../../src/envoy/index.ts";
import { AdsTestClient } from "./ads-client.ts";

const SKIFF = fileURLToPath(new URL("../../../bin/skiff.js", import.meta.url));
const run = promisify(execFile);

test("skiff control-plane serves the files; proxy-status lists the connected proxy; SIGTERM stops it cleanly", { timeout: 60_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "skiff-cp-cli-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(
    join(dir, "svc.yaml"),
    "apiVersion: v1\nkind: Service\nmetadata: { name: echo, namespace: default }\nspec:\n  ports: [{ name: http, port: 8080 }]\n",
  );
  const child = spawn(process.execPath, [SKIFF, "control-plane", "-f", dir, "--xds-port", "0", "--monitoring-port", "0"], { stdio: ["ignore", "pipe", "pipe"] });
  t.after(() => child.exitCode === null && child.kill("SIGKILL"));
  let out = "";
  child.stdout.setEncoding("utf8");
  const ready = new Promise<RegExpExecArray>((resolve, reject) => {
    child.stdout.on("data", (chunk: string) => {
      out += chunk;
      const m = /xDS on 127\.0\.0\.1:(\d+), monitoring on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (m) resolve(m);
    });
    child.once("exit", (code) => reject(new Error(`control-plane exited early (${code}): ${out}`)));
  });
  const [, xdsPort, monitoring] = await ready;

  const client = new AdsTestClient(Number(xdsPort), { id: "sidecar~127.0.0.5~web-1.default~default.svc.cluster.local" });
  client.request({ type_url: TypeUrl.cluster }, true);
  const cds = await client.next(20_000);
  client.ack(cds);
  client.request({ type_url: TypeUrl.listener });
  const lds = await client.next(20_000);
  // LDS is sent but not ACKed: STALE; CDS is ACKed: SYNCED.
  let table = "";
  for (let i = 0; i < 100 && !/web-1\.default.*SYNCED\s+STALE/.test(table); i++) {
    table = (await run(process.execPath, [SKIFF, "proxy-status", "--control-plane", monitoring])).stdout;
  }
  assert.match(table, /^NAME\s+TYPE\s+CLUSTER\s+CDS\s+LDS\s+EDS\s+RDS\s+LAST NACK$/m);
  assert.match(table, /^web-1\.default\s+sidecar\s+Kubernetes\s+SYNCED\s+STALE\s+NOT SENT\s+NOT SENT$/m);
  client.nack(lds, "", "listener rejected for the test");
  for (let i = 0; i < 100 && !/\(NACK\)/.test(table); i++) {
    table = (await run(process.execPath, [SKIFF, "proxy-status", "--control-plane", monitoring])).stdout;
  }
  assert.match(table, /STALE \(NACK\).*LDS [0-9a-f]+: listener rejected for the test/);
  client.close();

  child.kill("SIGTERM");
  const [code] = await once(child, "exit");
  assert.equal(code, 0);
});
