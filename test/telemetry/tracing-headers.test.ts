import { test } from "node:test";
import assert from "node:assert/strict";
import {
  parseTraceparent,
  formatTraceparent,
  parseTracestate,
  parseB3Multi,
  formatB3Multi,
  parseB3Single,
  formatB3Single,
  extractTraceContext,
  injectTraceContext,
  ensureRequestId,
  decideSampling,
  newTraceId,
  newSpanId,
  startSpan,
  finishSpan,
  httpSpanTags,
  newAccessLogRecord,
  type TraceContext,
} from "../../src/telemetry/index.ts";

const TRACE = "4bf92f3577b34da6a3ce929d0e0e4736";
const SPAN = "00f067aa0ba902b7";

test("W3C traceparent parses the spec's example and formats back identically", () => {
  const header = `00-${TRACE}-${SPAN}-01`;
  const ctx = parseTraceparent(header)!;
  assert.deepEqual(ctx, { traceId: TRACE, spanId: SPAN, sampled: true });
  assert.equal(formatTraceparent(ctx), header);
  assert.equal(parseTraceparent(`00-${TRACE}-${SPAN}-00`)!.sampled, false);
});

test("invalid traceparent values are ignored, never thrown", () => {
  for (const bad of [
    "", "garbage", `00-${"0".repeat(32)}-${SPAN}-01`, `00-${TRACE}-${"0".repeat(16)}-01`, `ff-${TRACE}-${SPAN}-01`,
    `00-${TRACE.toUpperCase()}-${SPAN}-01`, `00-${TRACE}-${SPAN}-01-extra`, `00-${TRACE}-${SPAN}-1`,
  ]) {
    assert.equal(parseTraceparent(bad), undefined, bad);
  }
  // A future version may append fields.
  assert.equal(parseTraceparent(`01-${TRACE}-${SPAN}-01-more`)!.traceId, TRACE);
});

test("tracestate is validated and passed through", () => {
  assert.equal(parseTracestate("congo=t61rcWkgMzE, rojo=00f067aa0ba902b7"), "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7");
  assert.equal(parseTracestate(["a=1", "b=2"]), "a=1,b=2");
  assert.equal(parseTracestate("a=1,a=2"), undefined);
  assert.equal(parseTracestate("Upper=1"), undefined);
  const ctx = extractTraceContext({ traceparent: `00-${TRACE}-${SPAN}-01`, tracestate: "vendor=x" })!;
  assert.equal(injectTraceContext(ctx, ["w3c"]).tracestate, "vendor=x");
});

test("B3 multi-header round trip, 64-bit trace ids padded, debug forces sampling", () => {
  const ctx: TraceContext = { traceId: TRACE, spanId: SPAN, parentSpanId: "a2fb4a1d1a96d312", sampled: true };
  const headers = formatB3Multi(ctx);
  assert.deepEqual(headers, { "x-b3-traceid": TRACE, "x-b3-spanid": SPAN, "x-b3-parentspanid": "a2fb4a1d1a96d312", "x-b3-sampled": "1" });
  assert.deepEqual(parseB3Multi(headers), ctx);
  const short = parseB3Multi({ "x-b3-traceid": "A3CE929D0E0E4736", "x-b3-spanid": SPAN, "x-b3-flags": "1" })!;
  assert.equal(short.traceId, "0000000000000000a3ce929d0e0e4736");
  assert.equal(short.sampled, true);
  assert.equal(short.debug, true);
  const decisionOnly = parseB3Multi({ "x-b3-sampled": "0" })!;
  assert.equal(decisionOnly.traceId, "");
  assert.equal(decisionOnly.sampled, false);
  assert.equal(parseB3Multi({ "x-b3-traceid": "zz", "x-b3-spanid": SPAN }), undefined);
});

test("single b3 header round trip, with and without sampling and parent", () => {
  const full: TraceContext = { traceId: TRACE, spanId: SPAN, parentSpanId: "a2fb4a1d1a96d312", sampled: false };
  assert.equal(formatB3Single(full), `${TRACE}-${SPAN}-0-a2fb4a1d1a96d312`);
  assert.deepEqual(parseB3Single(formatB3Single(full)), full);
  assert.deepEqual(parseB3Single(`${TRACE}-${SPAN}`), { traceId: TRACE, spanId: SPAN });
  assert.equal(parseB3Single(`${TRACE}-${SPAN}-d`)!.debug, true);
  assert.deepEqual(parseB3Single("0"), { traceId: "", spanId: "", sampled: false });
  assert.equal(parseB3Single(`${TRACE}-${SPAN}-x`), undefined);
});

test("extraction prefers traceparent, then b3, then x-b3-*", () => {
  const w3c = `00-${TRACE}-${SPAN}-01`;
  const other = "11111111111111111111111111111111";
  assert.equal(extractTraceContext({ traceparent: w3c, b3: `${other}-${SPAN}-1` })!.traceId, TRACE);
  assert.equal(extractTraceContext({ b3: `${other}-${SPAN}-1`, "x-b3-traceid": TRACE, "x-b3-spanid": SPAN })!.traceId, other);
  assert.equal(extractTraceContext({ "x-b3-traceid": TRACE, "x-b3-spanid": SPAN })!.traceId, TRACE);
  assert.equal(extractTraceContext({}), undefined);
});

test("injecting all formats then extracting gives the same context back", () => {
  const ctx: TraceContext = { traceId: newTraceId(), spanId: newSpanId(), sampled: true };
  const h = injectTraceContext(ctx, ["w3c", "b3", "b3-single"]);
  for (const drop of [[], ["traceparent"], ["traceparent", "b3"]]) {
    const copy: Record<string, string> = { ...h };
    for (const d of drop) delete copy[d];
    const back = extractTraceContext(copy)!;
    assert.equal(back.traceId, ctx.traceId);
    assert.equal(back.spanId, ctx.spanId);
    assert.equal(back.sampled, true);
  }
});

test("generated ids are valid and distinct", () => {
  const seen = new Set<string>();
  for (let i = 0; i < 2000; i++) {
    const t = newTraceId();
    assert.match(t, /^[0-9a-f]{32}$/);
    seen.add(t);
  }
  assert.equal(seen.size, 2000);
  assert.match(newSpanId(), /^[0-9a-f]{16}$/);
});

test("x-request-id is kept when present and generated as a UUID v4 when absent", () => {
  assert.deepEqual(ensureRequestId({ "x-request-id": "abc" }), { id: "abc", generated: false });
  const g = ensureRequestId({});
  assert.equal(g.generated, true);
  assert.match(g.id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.notEqual(ensureRequestId({ "x-request-id": "" }).id, "");
});

test("sampling: forced headers win, then the parent's flag, then the random percentage", () => {
  const never = () => 0.999;
  const always = () => 0;
  const unsampledParent: TraceContext = { traceId: TRACE, spanId: SPAN, sampled: false };
  assert.deepEqual(decideSampling({ headers: { "x-envoy-force-trace": "true" }, parent: unsampledParent }, { randomSamplingPercentage: 0, random: never }), { sampled: true, reason: "forced" });
  assert.deepEqual(decideSampling({ headers: { "x-client-trace-id": "c1" } }, { randomSamplingPercentage: 0, random: never }), { sampled: true, reason: "client" });
  assert.deepEqual(decideSampling({ headers: {}, parent: unsampledParent }, { randomSamplingPercentage: 100, random: always }), { sampled: false, reason: "parent" });
  assert.deepEqual(decideSampling({ headers: {}, parent: { ...unsampledParent, sampled: true } }, { randomSamplingPercentage: 0, random: never }), { sampled: true, reason: "parent" });
  assert.equal(decideSampling({ headers: {} }, { randomSamplingPercentage: 25, random: () => 0.2499 }).sampled, true);
  assert.equal(decideSampling({ headers: {} }, { randomSamplingPercentage: 25, random: () => 0.25 }).sampled, false);
  // With a seeded sequence the sampled share follows the percentage.
  let x = 0;
  const seq = () => ((x = (x + 0.618033988749895) % 1), x);
  let hits = 0;
  for (let i = 0; i < 1000; i++) if (decideSampling({ headers: {} }, { randomSamplingPercentage: 10, random: seq }).sampled) hits++;
  assert.ok(hits >= 90 && hits <= 110, `sampled ${hits} of 1000 at 10%`);
});

test("spans chain across hops: each hop's server span is the child of the caller's client span", () => {
  // The gateway starts the trace (no incoming context) and propagates to sa-webapp.
  const gw = startSpan({ kind: "CLIENT", name: "sa-webapp.default.svc.cluster.local:80/*", serviceName: "istio-ingressgateway.istio-system", sampled: true, startUs: 1000 });
  assert.equal(gw.span.parentId, undefined);
  const wire = injectTraceContext(gw.context, ["w3c", "b3"]);
  const server = startSpan({ kind: "SERVER", name: "sa-webapp.default.svc.cluster.local:80/*", serviceName: "sa-webapp.default", parent: extractTraceContext(wire), sampled: true, startUs: 1100 });
  assert.equal(server.span.traceId, gw.span.traceId);
  assert.equal(server.span.parentId, gw.span.id);
  assert.notEqual(server.span.id, gw.span.id);
  // A decision-only context (b3: 1) carries no ids: the span starts a new trace as its root.
  const fresh = startSpan({ kind: "SERVER", name: "x", serviceName: "y", parent: extractTraceContext({ b3: "1" }), sampled: true });
  assert.equal(fresh.span.parentId, undefined);
  assert.match(fresh.span.traceId, /^[0-9a-f]{32}$/);
  finishSpan(server.span, 1100);
  assert.equal(server.span.duration, 1);

  const r = newAccessLogRecord();
  Object.assign(r, { method: "GET", authority: "sa-webapp", path: "/sentiment", protocol: "HTTP/1.1", responseCode: 503, responseFlags: "UF", upstreamCluster: "outbound|80||sa-logic.default.svc.cluster.local", requestHeaders: { "x-request-id": "rid-9" }, downstreamRemoteAddress: "10.0.0.9:5555" });
  const tags = httpSpanTags(r, { "istio.mesh_id": "cluster.local" });
  assert.equal(tags["http.url"], "http://sa-webapp/sentiment");
  assert.equal(tags["guid:x-request-id"], "rid-9");
  assert.equal(tags.error, "true");
  assert.equal(tags["peer.address"], "10.0.0.9");
  assert.equal(tags["istio.mesh_id"], "cluster.local");
});
