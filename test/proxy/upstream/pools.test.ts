// Connection pools against real loopback servers: keep-alive reuse, max requests per
// connection, HTTP/2 multiplexing, and how failures are classified.
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import http2 from "node:http2";
import { Readable } from "node:stream";
import { ClusterManager } from "../../../src/proxy/upstream/index.ts";
import type { EnvoyJson, UpstreamCluster, UpstreamHttpResult } from "../../../src/proxy/upstream/index.ts";
import { closedPort, endpoint, get, startHttp1, startHttp2, staticCluster, type TestServer } from "./helpers.ts";

/** A cluster's HttpProtocolOptions extension (its typed_extension_protocol_options field). */
function protocolOptions(options: EnvoyJson): EnvoyJson {
  return {
    typed_extension_protocol_options: {
      "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": { "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions", ...options },
    },
  };
}

const H2 = protocolOptions({ explicit_http_config: { http2_protocol_options: {} } });

/**
 * The fixture every test here shares: a cluster "c" (with `extra` cluster fields) to the
 * test's server, or to a bare port; the cluster manager and the server are closed after
 * the test, pass or fail.
 */
function make(t: TestContext, target: TestServer | number, extra: EnvoyJson = {}): UpstreamCluster {
  const cm = new ClusterManager();
  t.after(async () => {
    await cm.close();
    if (typeof target !== "number") await target.close();
  });
  const r = cm.applyClusters([staticCluster("c", [endpoint(typeof target === "number" ? target : target.port)], extra)]);
  assert.deepEqual(r.errors, []);
  return cm.get("c")!;
}

async function text(r: UpstreamHttpResult): Promise<string> {
  assert.equal(r.kind, "response");
  if (r.kind !== "response") return "";
  const chunks: Buffer[] = [];
  for await (const c of r.body) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString();
}

test("HTTP/1.1: sequential requests reuse one keep-alive connection", async (t) => {
  const s = await startHttp1("a");
  const c = make(t, s);
  for (let i = 0; i < 5; i++) assert.equal((await get(c)).body, "a");
  assert.equal(s.connections, 1);
  assert.equal(c.stats.upstream_cx_total, 1);
  assert.equal(c.stats.upstream_rq_total, 5);
  assert.equal(c.stats.upstream_rq_2xx, 5);
  assert.equal(c.stats.upstream_rq_active, 0);
});

test("HTTP/1.1: max_requests_per_connection opens a new connection after N requests", async (t) => {
  const s = await startHttp1("a");
  const c = make(t, s, protocolOptions({ explicit_http_config: { http_protocol_options: {} }, common_http_protocol_options: { max_requests_per_connection: 2 } }));
  for (let i = 0; i < 6; i++) await get(c);
  assert.equal(s.connections, 3);
  assert.equal(c.stats.upstream_cx_max_requests, 3);
});

test("HTTP/1.1: idle_timeout closes idle connections", async (t) => {
  const s = await startHttp1("a");
  const c = make(t, s, { common_http_protocol_options: { idle_timeout: "0.05s" } });
  await get(c);
  for (let i = 0; i < 200 && c.stats.upstream_cx_active > 0; i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(c.stats.upstream_cx_active, 0);
  await get(c);
  assert.equal(s.connections, 2);
});

test("HTTP/1.1: request bodies and response headers pass through", async (t) => {
  const s = await startHttp1("echo", (req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (d) => chunks.push(d));
    req.on("end", () => {
      res.setHeader("x-seen-host", req.headers.host ?? "");
      res.end(Buffer.concat(chunks));
    });
  });
  const c = make(t, s);
  const host = c.selectHost({})!;
  const r = await c.httpRequest(host, { method: "POST", path: "/p", authority: "svc.local", headers: { "content-type": "text/plain" }, body: Readable.from([Buffer.from("hello ")], { objectMode: false }) });
  assert.equal(r.kind === "response" && r.headers["x-seen-host"], "svc.local");
  assert.equal(await text(r), "hello ");
});

test("HTTP/2: concurrent requests share one multiplexed session; trailers come through", async (t) => {
  const release: Array<() => void> = [];
  const s = await startHttp2("h2", (stream) => {
    release.push(() => {
      stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
      stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
      stream.end("ok");
    });
  });
  const c = make(t, s, H2);
  const host = c.selectHost({})!;
  const inflight = Array.from({ length: 10 }, () => c.httpRequest(host, { method: "POST", path: "/svc/M", authority: "svc", headers: { te: "trailers" } }));
  while (s.requests < 10) await new Promise((r) => setTimeout(r, 5));
  assert.equal(c.stats.upstream_rq_active, 10);
  for (const r of release) r();
  const results = await Promise.all(inflight);
  for (const r of results) {
    assert.equal(await text(r), "ok");
    assert.equal(r.kind === "response" && r.protocol, "h2");
    assert.equal(r.kind === "response" && r.trailers()["grpc-status"], "0");
  }
  assert.equal(s.connections, 1);
  assert.equal(c.stats.upstream_cx_http2_total, 1);
});

test("connect failure to a closed port is 'connect' (UF) and counts upstream_cx_connect_fail", async (t) => {
  const port = await closedPort();
  const c = make(t, port);
  const { result } = await get(c);
  assert.equal(result.kind, "failure");
  assert.equal(result.kind === "failure" && result.failure, "connect");
  assert.equal(result.kind === "failure" && result.responseFlag, "UF");
  assert.equal(c.stats.upstream_cx_connect_fail, 1);
  const { result: r2 } = await get(c);
  assert.equal(r2.kind === "failure" && r2.failure, "connect");
});

test("HTTP/2 connect failure is 'connect' too", async (t) => {
  const port = await closedPort();
  const c = make(t, port, H2);
  const { result } = await get(c);
  assert.equal(result.kind === "failure" && result.failure, "connect");
});

test("a connection closed before the response is 'reset' (UC), not a connect failure", async (t) => {
  const s = await startHttp1("x", (req) => req.socket.destroy());
  const c = make(t, s);
  const { result } = await get(c);
  assert.equal(result.kind === "failure" && result.failure, "reset");
  assert.equal(result.kind === "failure" && result.responseFlag, "UC");
  assert.equal(c.stats.upstream_cx_connect_fail, 0);
});

test("HTTP/2 REFUSED_STREAM is 'refused_stream'; other resets are 'reset'", async (t) => {
  let n = 0;
  const s = await startHttp2("x", (stream) => {
    n++;
    stream.close(n === 1 ? http2.constants.NGHTTP2_REFUSED_STREAM : http2.constants.NGHTTP2_INTERNAL_ERROR);
  });
  const c = make(t, s, H2);
  const a = (await get(c)).result;
  assert.equal(a.kind === "failure" && a.failure, "refused_stream");
  const b = (await get(c)).result;
  assert.equal(b.kind === "failure" && b.failure, "reset");
  assert.equal(b.kind === "failure" && b.responseFlag, "UR");
});

test("aborting the signal cancels the request", async (t) => {
  const s = await startHttp1("slow", () => {});
  const c = make(t, s);
  const ac = new AbortController();
  const host = c.selectHost({})!;
  const p = c.httpRequest(host, { method: "GET", path: "/", authority: "t", headers: {}, signal: ac.signal });
  while (s.requests < 1) await new Promise((r) => setTimeout(r, 5));
  ac.abort();
  const r = await p;
  assert.equal(r.kind === "failure" && r.failure, "aborted");
  assert.equal(c.stats.upstream_rq_active, 0);
  assert.equal(c.stats.upstream_rq_cancelled, 1);
});

test("max_connection_duration retires a connection; options without a protocol choice keep HTTP/1.1", async (t) => {
  const s = await startHttp1("a");
  const c = make(t, s, protocolOptions({ common_http_protocol_options: { idle_timeout: "90s", max_connection_duration: "0.1s" } }));
  const first = await get(c);
  assert.equal(first.result.kind === "response" && first.result.protocol, "h1");
  for (let i = 0; i < 200 && c.stats.upstream_cx_active > 0; i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(c.stats.upstream_cx_active, 0);
  await get(c);
  assert.equal(s.connections, 2);
});

test("HTTP/2 max_concurrent_streams: more concurrent streams open another connection", async (t) => {
  const release: Array<() => void> = [];
  const s = await startHttp2("h2", (stream) => release.push(() => {
    stream.respond({ ":status": 200 });
    stream.end("ok");
  }));
  const c = make(t, s, { http2_protocol_options: { max_concurrent_streams: 2 } });
  const host = c.selectHost({})!;
  const inflight = Array.from({ length: 5 }, () => c.httpRequest(host, { method: "GET", path: "/", authority: "svc", headers: {} }));
  while (s.requests < 5) await new Promise((r) => setTimeout(r, 5));
  assert.equal(s.connections, 3);
  for (const r of release) r();
  for (const r of await Promise.all(inflight)) assert.equal(await text(r), "ok");
});
