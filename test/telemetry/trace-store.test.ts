import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import {
  startTraceStore,
  zipkinExporter,
  otlpExporter,
  newTraceId,
  newSpanId,
  TraceStore,
  type Span,
} from "../../src/telemetry/index.ts";

const T0 = Date.UTC(2026, 10, 24, 6, 0, 0) * 1000; // µs

/** gateway → sa-webapp → sa-logic: one trace, a client and a server span per hop. */
function demoTrace(traceId = newTraceId(), shift = 0): Span[] {
  const ids = [newSpanId(), newSpanId(), newSpanId(), newSpanId()];
  const svc = (serviceName: string) => ({ serviceName });
  return [
    { traceId, id: ids[0], name: "sa-webapp.default.svc.cluster.local:80/*", kind: "CLIENT", timestamp: T0 + shift, duration: 9000, localEndpoint: svc("istio-ingressgateway.istio-system"), tags: { "http.status_code": "200", "guid:x-request-id": "rid-1" } },
    { traceId, id: ids[1], parentId: ids[0], name: "sa-webapp.default.svc.cluster.local:80/*", kind: "SERVER", timestamp: T0 + shift + 500, duration: 8000, localEndpoint: svc("sa-webapp.default"), tags: { "http.status_code": "200", "guid:x-request-id": "rid-1" } },
    { traceId, id: ids[2], parentId: ids[1], name: "sa-logic.default.svc.cluster.local:80/*", kind: "CLIENT", timestamp: T0 + shift + 1000, duration: 6000, localEndpoint: svc("sa-webapp.default"), tags: { "http.status_code": "200", "guid:x-request-id": "rid-1" } },
    { traceId, id: ids[3], parentId: ids[2], name: "sa-logic.default.svc.cluster.local:80/*", kind: "SERVER", timestamp: T0 + shift + 1500, duration: 5000, localEndpoint: svc("sa-logic.default"), tags: { "http.status_code": "200", "guid:x-request-id": "rid-1", "response_flags": "-" } },
  ];
}

async function getJson(url: string): Promise<{ status: number; body: unknown }> {
  const res = await fetch(url);
  const text = await res.text();
  return { status: res.status, body: text.startsWith("[") || text.startsWith("{") ? JSON.parse(text) : text };
}

test("spans exported over Zipkin and OTLP land in one trace, parent before child", async () => {
  const ts = await startTraceStore({ port: 0 });
  try {
    const spans = demoTrace();
    const zipkin = zipkinExporter({ endpoint: `${ts.url}/api/v2/spans`, flushIntervalMs: 10 });
    const otlp = otlpExporter({ endpoint: `${ts.url}/v1/traces`, flushIntervalMs: 10 });
    // Out of order, split across both protocols, as proxies report them.
    zipkin.export(spans[3]);
    otlp.export(spans[1]);
    zipkin.export(spans[0]);
    otlp.export(spans[2]);
    await Promise.all([zipkin.close(), otlp.close()]);
    assert.equal(zipkin.stats.exported, 2);
    assert.equal(otlp.stats.exported, 2);
    assert.equal(zipkin.stats.failedBatches + otlp.stats.failedBatches, 0);

    const { status, body } = await getJson(`${ts.url}/api/v2/trace/${spans[0].traceId}`);
    assert.equal(status, 200);
    const got = body as Span[];
    assert.deepEqual(got.map((s) => s.id), spans.map((s) => s.id));
    assert.deepEqual(got.map((s) => s.kind), ["CLIENT", "SERVER", "CLIENT", "SERVER"]);
    assert.deepEqual(got.map((s) => s.localEndpoint?.serviceName), ["istio-ingressgateway.istio-system", "sa-webapp.default", "sa-webapp.default", "sa-logic.default"]);
    // Durations and timestamps survive the OTLP nanosecond round trip exactly.
    assert.equal(got[1].timestamp, spans[1].timestamp);
    assert.equal(got[1].duration, spans[1].duration);
    assert.equal(got[2].tags["guid:x-request-id"], "rid-1");
  } finally {
    await ts.close();
  }
});

test("Zipkin query API: services, span names, and trace search by name, duration, tags and limit", async () => {
  const ts = await startTraceStore({ port: 0 });
  try {
    const a = demoTrace(newTraceId(), 0);
    const b = demoTrace(newTraceId(), 1_000_000);
    b[3].duration = 900_000;
    b[3].tags["http.status_code"] = "503";
    const res = await fetch(`${ts.url}/api/v2/spans`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify([...a, ...b]) });
    assert.equal(res.status, 202);

    assert.deepEqual((await getJson(`${ts.url}/api/v2/services`)).body, ["istio-ingressgateway.istio-system", "sa-logic.default", "sa-webapp.default"]);
    assert.deepEqual((await getJson(`${ts.url}/api/v2/spans?serviceName=sa-webapp.default`)).body, [
      "sa-logic.default.svc.cluster.local:80/*",
      "sa-webapp.default.svc.cluster.local:80/*",
    ]);
    const traceIds = async (query: string) => ((await getJson(`${ts.url}/api/v2/traces?${query}`)).body as Span[][]).map((t) => t[0].traceId);
    // Most recent first.
    assert.deepEqual(await traceIds("serviceName=sa-logic.default"), [b[0].traceId, a[0].traceId]);
    assert.deepEqual(await traceIds("serviceName=sa-logic.default&minDuration=100000"), [b[0].traceId]);
    assert.deepEqual(await traceIds("serviceName=sa-logic.default&maxDuration=100000"), [a[0].traceId]);
    assert.deepEqual(await traceIds(`annotationQuery=${encodeURIComponent("http.status_code=503")}`), [b[0].traceId]);
    assert.deepEqual(await traceIds(`annotationQuery=${encodeURIComponent("response_flags and http.status_code=200")}`), [a[0].traceId]);
    assert.deepEqual(await traceIds("serviceName=sa-webapp.default&spanName=sa-logic.default.svc.cluster.local:80/*&limit=1"), [b[0].traceId]);
    assert.deepEqual(await traceIds("serviceName=nobody"), []);
    const lookback = await traceIds(`endTs=${Math.floor((T0 + 500_000) / 1000)}&lookback=1000`);
    assert.deepEqual(lookback, [a[0].traceId]);

    assert.equal((await getJson(`${ts.url}/api/v2/trace/${"ab".repeat(16)}`)).status, 404);
    assert.equal((await getJson(`${ts.url}/api/v2/spans`)).status, 400);
    assert.equal((await getJson(`${ts.url}/api/v2/traces?minDuration=soon`)).status, 400);
  } finally {
    await ts.close();
  }
});

test("bad ingest gets a clear 4xx naming the field, not a crash", async () => {
  const ts = await startTraceStore({ port: 0 });
  try {
    const post = (path: string, body: string, type = "application/json") =>
      fetch(`${ts.url}${path}`, { method: "POST", headers: { "content-type": type }, body }).then(async (r) => ({ status: r.status, text: await r.text() }));
    const badId = await post("/api/v2/spans", JSON.stringify([{ traceId: "xyz", id: "0000000000000001" }]));
    assert.equal(badId.status, 400);
    assert.match(badId.text, /span\[0\]\.traceId: must be 16 or 32 hex digits/);
    const proto = await post("/v1/traces", "\x0a\x00", "application/x-protobuf");
    assert.equal(proto.status, 415);
    assert.match(proto.text, /send JSON/);
    const notJson = await post("/api/v2/spans", "{{");
    assert.equal(notJson.status, 400);
    const otlpBad = await post("/v1/traces", JSON.stringify({ resourceSpans: [{ scopeSpans: [{ spans: [{ traceId: TRACE_OK, spanId: "nope" }] }] }] }));
    assert.equal(otlpBad.status, 400);
    assert.match(otlpBad.text, /spans\[0\]\.spanId/);
    // Still serving.
    assert.equal((await getJson(`${ts.url}/api/v2/services`)).status, 200);
  } finally {
    await ts.close();
  }
});
const TRACE_OK = "4bf92f3577b34da6a3ce929d0e0e4736";

test("the store is bounded: whole least-recently-written traces are evicted", () => {
  const store = new TraceStore({ maxSpans: 10 });
  const t1 = demoTrace();
  const t2 = demoTrace();
  const t3 = demoTrace();
  store.add(t1);
  store.add(t2);
  store.add(t1.slice(0, 1)); // a re-sent span: replaces, and marks t1 recent
  assert.equal(store.size.spans, 8);
  store.add(t3); // 12 > 10: the oldest written trace (t2) goes, whole
  assert.equal(store.trace(t2[0].traceId), undefined);
  assert.equal(store.trace(t1[0].traceId)!.length, 4);
  assert.equal(store.trace(t3[0].traceId)!.length, 4);
  assert.equal(store.size.spans, 8);
  assert.equal(store.evictedTraces, 1);
});

test("the exporter never blocks: a full queue drops and counts, a dead collector fails the batch", async () => {
  // A port that was just free on loopback: nothing listens there now.
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, "127.0.0.1", () => r()));
  const deadPort = (probe.address() as AddressInfo).port;
  await new Promise<void>((r) => probe.close(() => r()));

  const exp = zipkinExporter({ endpoint: `http://127.0.0.1:${deadPort}/api/v2/spans`, maxQueueSize: 5, maxBatchSize: 100, flushIntervalMs: 60_000 });
  const spans = [...demoTrace(), ...demoTrace()];
  const accepted = spans.map((s) => exp.export(s));
  assert.deepEqual(accepted, [true, true, true, true, true, false, false, false]);
  assert.equal(exp.stats.dropped, 3);
  await exp.close();
  assert.equal(exp.stats.failedBatches, 1);
  assert.equal(exp.stats.dropped, 8);
  assert.equal(exp.stats.exported, 0);
  assert.ok(exp.stats.lastError);
  assert.equal(exp.export(spans[0]), false);
});

test("more spans than one batch go out as several POSTs, all arriving", async () => {
  const ts = await startTraceStore({ port: 0 });
  try {
    const exp = otlpExporter({ endpoint: `${ts.url}/v1/traces`, maxBatchSize: 3, flushIntervalMs: 60_000 });
    const traces = [demoTrace(), demoTrace(), demoTrace()];
    for (const t of traces) for (const s of t) exp.export(s);
    await exp.flush();
    assert.equal(exp.stats.exported, 12);
    assert.equal(ts.store.size.spans, 12);
    for (const t of traces) assert.equal(ts.store.trace(t[0].traceId)!.length, 4);
    await exp.close();
  } finally {
    await ts.close();
  }
});
