// Observability with no --mesh-config at all: `skiff up` (a real child process) on the
// sentiment sample runs with Istio's defaults and its own trace store. What a user gets
// without configuring anything:
// - traces: 1 % sampling, so a request forced with x-client-trace-id gives one trace in the
//   embedded trace store (registered as zipkin.istio-system:9411) with a span per proxy hop;
// - metrics: every sidecar serves Istio's metrics on its stats port (Istio's 15090) and,
//   merged with the app's own /metrics (the sample's prometheus.io/* annotations), on its
//   merged port (15020); the ports are in `skiff status -o json`;
// - no access log (accessLogFile is empty by default).
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseExposition } from "../../src/telemetry/index.ts";
import type { MeshStatus } from "../../src/runtime/index.ts";
import { kernelFreePort } from "../../src/runtime/index.ts";
import { ISTIO, SAMPLES, SKIFF, eventually, startDemo, traceOf } from "./helpers/demo-up.ts";

test("no mesh config: a forced request is traced into skiff up's trace store; 15090 and 15020 serve Istio's metrics, 15020 with the app's", { timeout: 240_000 }, async (t) => {
  const demo = await startDemo(t, { meshConfig: false });
  const applied = await demo.skiff("apply", "-f", join(ISTIO, "http-gateway.yaml"), "-f", join(ISTIO, "vs-route-ingress.yaml"));
  assert.equal(applied.code, 0, applied.stderr);
  const sentiment = (id: string, force: boolean) =>
    fetch(`http://127.0.0.1:${demo.port}/sentiment`, {
      method: "POST",
      // x-client-trace-id: Envoy's "trace this one" for a client, whatever the sampling percentage.
      headers: { "content-type": "application/json", "x-request-id": id, ...(force ? { "x-client-trace-id": id } : {}) },
      body: JSON.stringify({ sentence: "a good day" }),
      signal: AbortSignal.timeout(10_000),
    });
  const warm = await eventually(() => sentiment(`warm-${Date.now()}`, false), (r) => r.status === 200);
  assert.equal(warm.status, 200);

  const id = "5d1c7e2a-3b4f-4a6e-8c9d-0e1f2a3b4c5d";
  const r = await sentiment(id, true);
  assert.equal(r.status, 200, await r.text());

  // The trace: gateway CLIENT → sa-webapp SERVER → sa-webapp CLIENT → sa-logic SERVER.
  const { trace, chain } = await traceOf(demo, id, 75);
  assert.deepEqual(chain, ["istio-ingressgateway:CLIENT", "sa-webapp:SERVER", "sa-webapp:CLIENT", "sa-logic:SERVER"], JSON.stringify(trace, null, 1));

  // Metrics at sa-logic's sidecars (the request reached one of its replicas).
  const st = await demo.skiff("status", "-o", "json");
  assert.equal(st.code, 0, st.stderr);
  const status = JSON.parse(st.stdout) as MeshStatus;
  const logic = status.replicas.filter((x) => x.workload === "sa-logic" && x.sidecar);
  assert.ok(logic.length > 0 && logic.every((x) => x.sidecar!.statsPort && x.sidecar!.mergePort), JSON.stringify(logic.map((x) => x.sidecar)));
  assert.ok(status.gateway.statsPort && status.gateway.mergePort, JSON.stringify(status.gateway));
  const scrape = async (port: number) => {
    const res = await fetch(`http://127.0.0.1:${port}/stats/prometheus`, { signal: AbortSignal.timeout(10_000) });
    assert.equal(res.status, 200);
    return parseExposition(await res.text());
  };
  const fromWebapp = (families: ReturnType<typeof parseExposition>) =>
    (families.find((f) => f.name === "istio_requests_total")?.samples ?? []).filter(
      (s) => s.labels.reporter === "destination" && s.labels.source_workload === "sa-webapp" && s.labels.destination_workload === "sa-logic" && s.labels.response_code === "200",
    );
  const appFamily = "sentiment_app_requests_total";
  let stats: ReturnType<typeof parseExposition> = [];
  let merged: ReturnType<typeof parseExposition> = [];
  for (const replica of logic) {
    const s = await scrape(replica.sidecar!.statsPort!);
    if (fromWebapp(s).length === 0) continue;
    stats = s;
    merged = await scrape(replica.sidecar!.mergePort!);
  }
  assert.ok(fromWebapp(stats).length > 0, "no sa-logic sidecar reports sa-webapp's requests on its stats port");
  // 15090: the proxy's own metrics only; 15020: the same families plus the app's.
  assert.equal(stats.find((f) => f.name === appFamily), undefined);
  assert.ok(fromWebapp(merged).length > 0, "the merged port lacks Istio's metrics");
  const app = merged.find((f) => f.name === appFamily)?.samples.find((s) => s.labels.method === "POST" && s.labels.code === "200");
  assert.ok(app && app.value > 0, `the merged port lacks the app's ${appFamily}: ${merged.map((f) => f.name).join(", ")}`);

  // No access log by default: the gateway's proxy log has no line with this request's id.
  const logs = await demo.skiff("logs", "istio-ingressgateway", "-c", "proxy", "-n", "istio-system");
  assert.equal(logs.code, 0, logs.stderr);
  assert.ok(!logs.stdout.includes(id), logs.stdout.slice(-2000));

  assert.equal(await demo.stop(), 0);
});

test("skiff up refuses at once when the trace store's port is taken, naming --no-trace-store and --trace-port", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "skiff-trace-busy-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const busy = createServer();
  await new Promise<void>((r) => busy.listen(0, "127.0.0.1", () => r()));
  t.after(() => busy.close());
  const tracePort = (busy.address() as { port: number }).port;
  const gatewayPort = await kernelFreePort();
  const r = await new Promise<{ code: number; stderr: string }>((resolve) =>
    execFile(
      process.execPath,
      [SKIFF, "up", "-f", join(SAMPLES, "mesh.yaml"), "--port", String(gatewayPort), "--trace-port", String(tracePort)],
      { env: { ...process.env, SKIFF_RUN_DIR: join(dir, "run") }, timeout: 30_000 },
      (err, _out, stderr) => resolve({ code: err ? (typeof err.code === "number" ? err.code : 1) : 0, stderr }),
    ),
  );
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, new RegExp(`port ${tracePort} on 127\\.0\\.0\\.1 is in use, so the embedded trace store could not listen there.*--no-trace-store.*--trace-port`));
  assert.equal(existsSync(join(dir, "run", "state.json")), false, "nothing was started");
});
