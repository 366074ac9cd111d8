// `npm run bench:dataplane -- --quick` is what a developer runs first: it must set up
// every path (references, the Skiff control plane with its CA, four sidecars), verify
// each Skiff path's telemetry and the mTLS path's mutual TLS, measure all seven paths and
// print the table, and write nothing to bench/results. Shortened further by the bench's
// own environment knobs (200 rps, 1 s windows) so the file stays well under a minute.
// Skips, saying why, without the Debian tools or on fewer than 2 cores (the bench pins
// proxies to CPU 1): the test must not apt-get on the machine it runs on.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import { statSync } from "node:fs";
import { cpus } from "node:os";
import { fileURLToPath } from "node:url";

const repo = fileURLToPath(new URL("../..", import.meta.url));
const TOOLS = ["haproxy", "nginx", "wrk", "openssl", "taskset"];
const missing = TOOLS.filter((t) => {
  try {
    execFileSync("sh", ["-c", `command -v ${t} || test -x /usr/sbin/${t}`], { stdio: "ignore" });
    return false;
  } catch {
    return true;
  }
});
const skip = process.platform !== "linux" ? "needs Linux (/proc)" : cpus().length < 2 ? "needs 2 cores" : missing.length ? `needs ${missing.join(", ")} (apt-get install haproxy nginx-light wrk openssl util-linux)` : false;

const PATHS = ["direct", "haproxy", "nginx", "skiff-sidecar", "skiff-mesh-plain", "skiff-mesh-mtls", "haproxy-tls-pair"];

function mtime(file: string): number {
  try {
    return statSync(file).mtimeMs;
  } catch {
    return 0;
  }
}

test("npm run bench:dataplane -- --quick sets up, verifies and measures every path", { skip, timeout: 180_000 }, async () => {
  const results = ["dataplane.json", "dataplane.md", "dataplane-telemetry-off.json"].map((f) => `${repo}bench/results/${f}`);
  const before = results.map(mtime);
  const env = { ...process.env, BENCH_RATE: "200", BENCH_SECONDS: "1", BENCH_WARMUP: "0.5", BENCH_SAT_SECONDS: "1", BENCH_NICE: "0" };
  const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn("npm", ["run", "-s", "bench:dataplane", "--", "--quick"], { cwd: repo, env, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    // SIGTERM lets the bench's finally stop its processes and remove its temp dir.
    const timer = setTimeout(() => child.kill("SIGTERM"), 170_000);
    child.on("exit", (c) => {
      clearTimeout(timer);
      resolve({ code: c, stdout: out, stderr: err });
    });
  });
  assert.equal(code, 0, `bench failed:\n${stderr.slice(-3000)}`);
  assert.match(stdout, /^Skiff telemetry: metrics \+ access log/m);
  for (const p of PATHS) assert.match(stdout, new RegExp(`^\\| ${p} \\| \\d+\\.\\d{4} \\|`, "m"), `${p} has a CPU figure in the table`);
  assert.match(stderr, /skiff-mesh-mtls: answers 200; \d+ requests counted in istio_requests_total by each of its 2 proxies and \d+ access log lines; mutual TLS: [1-9]\d* TLS handshakes/);
  assert.match(stderr, /skiff-sidecar: answers 200; \d+ requests counted in istio_requests_total by each of its 1 proxies/);
  assert.match(stdout, /^\| skiff-mesh-mtls \/ haproxy-tls-pair \|/m);
  assert.deepEqual(results.map(mtime), before, "--quick writes nothing to bench/results");
});
