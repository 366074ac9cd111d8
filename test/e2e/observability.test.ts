// Observability of the tutorial, end to end: `skiff up` (a real child process) on the
// sentiment sample with a mesh config that turns on JSON access logs, Zipkin tracing at
// 100 % to an embedded trace store started by the test, and Istio's metrics. One request
// through gateway → sa-webapp → sa-logic must give one trace with a span from each proxy
// in parent/child order, the same x-request-id in every hop's access log line, and
// istio_requests_total at sa-logic's sidecar naming sa-webapp as the source.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { kernelFreePort, readState, sweepStale, type MeshState } from "../../src/runtime/index.ts";
import { parseExposition, startTraceStore } from "../../src/telemetry/index.ts";

const SKIFF = fileURLToPath(new URL("../../bin/skiff.js", import.meta.url));
const SAMPLES = fileURLToPath(new URL("../../samples/sentiment/", import.meta.url));
const ISTIO = join(SAMPLES, "istio");

function skiff(env: NodeJS.ProcessEnv, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [SKIFF, ...args], { env, timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === "number" ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

async function eventually<T>(fn: () => Promise<T>, check: (v: T) => boolean, tries = 100): Promise<T> {
  let last: T | undefined;
  let error: unknown;
  for (let i = 0; i < tries; i++) {
    try {
      last = await fn();
      if (check(last)) return last;
    } catch (err) {
      error = err;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  if (last !== undefined) return last;
  throw error;
}

interface ZSpan {
  id: string;
  parentId?: string;
  traceId: string;
  kind: string;
  localEndpoint: { serviceName: string };
  tags: Record<string, string>;
}

test("one request through gateway → sa-webapp → sa-logic: one trace, one x-request-id in every access log, Istio metrics at both ends", { timeout: 180_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "skiff-observability-"));
  const runDir = join(dir, "run");
  const traces = await startTraceStore({ port: 0 });
  t.after(() => traces.close());
  const accessLog = join(dir, "access.log");
  const meshConfig = join(dir, "mesh-config.yaml");
  writeFileSync(
    meshConfig,
    [
      `accessLogFile: ${accessLog}`,
      "accessLogEncoding: JSON",
      "extensionProviders:",
      "- name: zipkin",
      `  zipkin: {service: 127.0.0.1, port: ${traces.port}}`,
      "defaultProviders:",
      "  metrics: [prometheus]",
      "  tracing: [zipkin]",
      "defaultConfig:",
      "  tracing: {sampling: 100}",
      "",
    ].join("\n"),
  );
  const env = { ...process.env, SKIFF_RUN_DIR: runDir, DATA_DIR: join(dir, "feedback") };
  const port = await kernelFreePort();
  const up = spawn(process.execPath, [SKIFF, "up", "-f", join(SAMPLES, "mesh.yaml"), "--mesh-config", meshConfig, "--port", String(port), "--wait", "120"], { env, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  up.stdout.on("data", (c: Buffer) => (output += c.toString()));
  up.stderr.on("data", (c: Buffer) => (output += c.toString()));
  const exited = new Promise<number | null>((resolve) => up.once("exit", (code) => resolve(code)));
  t.after(async () => {
    if (up.exitCode !== null) return;
    up.kill("SIGTERM");
    const stopped = await Promise.race([exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 20_000))]);
    if (stopped) return;
    const state = readState(runDir);
    up.kill("SIGKILL");
    await exited;
    if (state) sweepStale(state);
  });
  for (let i = 0; i < 1200 && !/skiff up: (ready|not ready)/.test(output) && up.exitCode === null; i++) await new Promise((r) => setTimeout(r, 100));
  assert.match(output, /skiff up: ready/, output);
  const applied = await skiff(env, "apply", "-f", join(ISTIO, "http-gateway.yaml"), "-f", join(ISTIO, "vs-route-ingress.yaml"));
  assert.equal(applied.code, 0, applied.stderr);

  const sentiment = (id: string) =>
    fetch(`http://127.0.0.1:${port}/sentiment`, { method: "POST", headers: { "content-type": "application/json", "x-request-id": id }, body: JSON.stringify({ sentence: "a good day" }), signal: AbortSignal.timeout(10_000) });
  // Routes converge after apply; warm up until the chain answers.
  const warm = await eventually(() => sentiment(`warm-${Date.now()}`), (r) => r.status === 200);
  assert.equal(warm.status, 200);

  const id = "0b5e4c1e-7d0a-4f35-9a77-5c2d1e3f4a5b";
  const r = await sentiment(id);
  assert.equal(r.status, 200, await r.text());

  // Access logs: every proxy appends JSON lines to the one file; this request's lines all carry its id.
  const mine = await eventually(
    async () =>
      readFileSync(accessLog, "utf8")
        .split("\n")
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .filter((l) => l.request_id === id),
    (ls) => ls.length >= 5,
    50,
  );
  // gateway (1) + sa-webapp inbound and outbound (2) + sa-logic inbound (1), at least; all 200.
  assert.ok(mine.length >= 4, JSON.stringify(mine, null, 1));
  for (const l of mine) assert.equal(l.response_code, 200, JSON.stringify(l));
  const clusters = mine.map((l) => String(l.upstream_cluster));
  assert.ok(clusters.some((c) => c.startsWith("outbound|") && c.includes("sa-logic")), clusters.join(" "));
  assert.ok(clusters.some((c) => c.startsWith("inbound|")), clusters.join(" "));

  // Traces: one trace with this request's id, a span per proxy hop, each parented on the previous.
  const spans = await eventually(
    async () => {
      const res = await fetch(`${traces.url}/api/v2/traces?annotationQuery=${encodeURIComponent(`guid:x-request-id=${id}`)}&limit=10`);
      return (await res.json()) as ZSpan[][];
    },
    (ts) => ts.length === 1 && ts[0].length >= 4,
    50,
  );
  assert.equal(spans.length, 1, JSON.stringify(spans));
  const trace = spans[0];
  const byId = new Map(trace.map((s) => [s.id, s]));
  const roots = trace.filter((s) => !s.parentId || !byId.has(s.parentId));
  assert.equal(roots.length, 1, JSON.stringify(trace, null, 1));
  assert.match(roots[0].localEndpoint.serviceName, /gateway/);
  // Every other span's parent is in the trace, and the chain reaches sa-logic's SERVER span.
  const logicServer = trace.find((s) => s.kind === "SERVER" && s.localEndpoint.serviceName.startsWith("sa-logic"));
  assert.ok(logicServer, JSON.stringify(trace.map((s) => [s.kind, s.localEndpoint.serviceName])));
  const chain: string[] = [];
  for (let s: ZSpan | undefined = logicServer; s; s = s.parentId ? byId.get(s.parentId) : undefined) chain.unshift(`${s.localEndpoint.serviceName}:${s.kind}`);
  assert.ok(chain.length >= 4, chain.join(" → "));
  assert.match(chain[0], /gateway/);
  assert.match(chain[chain.length - 1], /^sa-logic.*:SERVER$/);
  assert.ok(chain.some((c) => /^sa-webapp.*:SERVER$/.test(c)), chain.join(" → "));
  assert.ok(chain.some((c) => /^sa-webapp.*:CLIENT$/.test(c)), chain.join(" → "));

  // Metrics at sa-logic's sidecar: the destination reporter names sa-webapp as the source.
  const status = (await (await fetch(`http://127.0.0.1:${(JSON.parse(readFileSync(join(runDir, "state.json"), "utf8")) as MeshState).apiPort}/status`)).json()) as {
    replicas: { workload: string; sidecar?: { adminPort: number } }[];
  };
  // sa-logic may run several replicas: the request reached one of them.
  const series: { labels: Record<string, string>; value: number }[] = [];
  let text = "";
  for (const replica of status.replicas.filter((x) => x.workload.startsWith("sa-logic") && x.sidecar)) {
    text = await (await fetch(`http://127.0.0.1:${replica.sidecar!.adminPort}/stats/prometheus`)).text();
    series.push(...(parseExposition(text).find((f) => f.name === "istio_requests_total")?.samples ?? []).filter((s) => s.labels.reporter === "destination" && s.labels.response_code === "200"));
  }
  assert.ok(series.length > 0, text.slice(0, 3000));
  assert.ok(series.some((s) => s.labels.source_workload.startsWith("sa-webapp") && s.labels.destination_workload.startsWith("sa-logic")), JSON.stringify(series.map((s) => s.labels)));

  up.kill("SIGTERM");
  assert.equal(await exited, 0, output);
});
