// The proxy's telemetry, end to end on loopback: a client sidecar and a server sidecar
// (two proxies, each configured only over xDS by its own test ADS server) in front of a
// real app, an embedded trace store as the Zipkin collector. Checks what a user sees:
// istio_* series in /stats/prometheus (parsed back) with both sides' workload labels
// learnt through the metadata exchange, 200 / 404 NR / 503 UH, histograms, access log
// lines (Istio's TEXT and JSON) sharing one x-request-id across hops, a client span that
// is the parent of the server span, 0% sampling honoured downstream, B3 and W3C contexts
// (with tracestate) carried through to the app, an OpenTelemetry (OTLP/HTTP) provider, the
// stats port and the merged (app + proxy) metrics port.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { AddressInfo } from "node:net";
import { TestAdsServer } from "./helpers/ads-server.ts";
import { httpListener, request, routeConfig, staticCluster, startUpstream, vhost, type Json, type Upstream } from "./helpers/fixtures.ts";
import { Proxy, parseBootstrap, Logger } from "../../src/proxy/index.ts";
import { ISTIO_JSON_FORMAT, ISTIO_TEXT_FORMAT, parseExposition, startTraceStore, type Family, type RunningTraceStore } from "../../src/telemetry/index.ts";

const TYPED_STRUCT = "type.googleapis.com/udpa.type.v1.TypedStruct";
const stats = (value: Json = {}): Json => ({ name: "istio.stats", typed_config: { "@type": TYPED_STRUCT, type_url: "type.googleapis.com/stats.PluginConfig", value } });
const mx = (side: "client" | "server"): Json => {
  const d = [{ istio_headers: {} }, { workload_discovery: {} }];
  const p = [{ istio_headers: {} }];
  const value = side === "client" ? { upstream_discovery: d, upstream_propagation: p } : { downstream_discovery: d, downstream_propagation: p };
  return { name: "istio.metadata_exchange", typed_config: { "@type": TYPED_STRUCT, type_url: "type.googleapis.com/io.istio.http.peer_metadata.Config", value } };
};
const fileLog = (path: string, logFormat: Json): Json => ({
  name: "envoy.access_loggers.file",
  typed_config: { "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog", path, log_format: logFormat },
});
const zipkinTracing = (sampling: number): Json => ({
  client_sampling: { value: 100 },
  random_sampling: { value: sampling },
  overall_sampling: { value: 100 },
  custom_tags: [{ tag: "istio.mesh", literal: { value: "skiff-test" } }, { tag: "user", request_header: { name: "x-user", default_value: "nobody" } }],
  provider: {
    name: "envoy.tracers.zipkin",
    typed_config: { "@type": "type.googleapis.com/envoy.config.trace.v3.ZipkinConfig", collector_cluster: "zipkin", collector_endpoint: "/api/v2/spans", collector_endpoint_version: "HTTP_JSON", trace_id_128bit: true, shared_span_context: false },
  },
});
const otlpTracing = (uri: string): Json => ({
  random_sampling: { value: 100 },
  provider: {
    name: "envoy.tracers.opentelemetry",
    typed_config: { "@type": "type.googleapis.com/envoy.config.trace.v3.OpenTelemetryConfig", service_name: "sa-webapp-otel.default", http_service: { http_uri: { uri, cluster: "zipkin", timeout: "1s" } } },
  },
});

const SVC = "outbound|80||sa-logic.default.svc.cluster.local";
let dir: string;
let app: Upstream;
let appMetrics: http.Server;
let traces: RunningTraceStore;
let serverAds: TestAdsServer;
let clientAds: TestAdsServer;
let server: Proxy;
let client: Proxy;

async function startMeshProxy(ads: TestAdsServer, nodeId: string, metadata: Json): Promise<Proxy> {
  const bootstrap = parseBootstrap(
    { node: { id: nodeId, cluster: "test", metadata }, admin: { address: { socket_address: { address: "127.0.0.1", port_value: 0 } } }, xds_address: ads.address, initial_fetch_timeout_ms: 10_000 },
    "test-bootstrap",
  );
  const p = new Proxy({ bootstrap, logger: new Logger(process.env.SKIFF_TEST_LOG ? "debug" : "off") });
  await p.start();
  return p;
}

async function serveConfig(ads: TestAdsServer, p: Proxy, cfg: { clusters: Json[]; listeners: Json[]; routes: Json[] }): Promise<void> {
  ads.set("RDS", cfg.routes);
  ads.set("CDS", cfg.clusters);
  ads.set("LDS", cfg.listeners);
  await p.waitReady(8000);
}

function get(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.setTimeout(10_000, () => req.destroy(new Error("timed out")));
    req.on("error", reject);
  });
}

function samples(text: string, family: string, match: Record<string, string>): { labels: Record<string, string>; value: number }[] {
  const fams: Family[] = parseExposition(text);
  const f = fams.find((x) => x.name === family);
  if (!f) return [];
  return f.samples.filter((s) => Object.entries(match).every(([k, v]) => s.labels[k] === v));
}

/** Wait (bounded) for an access log file to hold at least n lines. */
async function lines(file: string, n: number): Promise<string[]> {
  for (let i = 0; i < 100; i++) {
    let text = "";
    try {
      text = readFileSync(file, "utf8");
    } catch {
      /* not created yet */
    }
    const ls = text.split("\n").filter(Boolean);
    if (ls.length >= n) return ls;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`${file}: fewer than ${n} lines`);
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "skiff-telemetry-"));
  app = await startUpstream(undefined, "sa-logic");
  appMetrics = http.createServer((_req, res) => {
    res.writeHead(200, { "content-type": "text/plain" });
    res.end("# HELP app_hits_total Hits.\n# TYPE app_hits_total counter\napp_hits_total 3\n");
  });
  await new Promise<void>((r) => appMetrics.listen(0, "127.0.0.1", r));
  traces = await startTraceStore({ port: 0 });
  serverAds = new TestAdsServer();
  clientAds = new TestAdsServer();
  await serverAds.start();
  await clientAds.start();

  server = await startMeshProxy(serverAds, "sidecar~127.0.0.2~sa-logic-1.default~default.svc.cluster.local", {
    NAMESPACE: "default",
    WORKLOAD_NAME: "sa-logic",
    SERVICE_ACCOUNT: "sa-logic",
    LABELS: { app: "sa-logic", version: "v1" },
    STATS_PORT: "0",
    METRICS_MERGE_PORT: "0",
    PROMETHEUS_ANNOTATIONS: { "prometheus.io/port": String((appMetrics.address() as AddressInfo).port), "prometheus.io/path": "/metrics" },
  });
  const zipkin = staticCluster("zipkin", [traces.port]);
  await serveConfig(serverAds, server, {
    clusters: [staticCluster("inbound|9080||", [app.port]), zipkin],
    routes: [routeConfig("inbound", [vhost("inbound", ["*"], [{ match: { prefix: "/" }, route: { cluster: "inbound|9080||" } }])])],
    listeners: [
      httpListener("inbound_0.0.0.0_9080", {
        rds: "inbound",
        filters: [mx("server"), stats({ disable_host_header_fallback: true })],
        hcm: { access_log: [fileLog(join(dir, "server.log"), { json_format: ISTIO_JSON_FORMAT })], tracing: zipkinTracing(100) },
      }),
    ],
  });
  const serverPort = server.listeners.boundPort("inbound_0.0.0.0_9080")!;

  client = await startMeshProxy(clientAds, "sidecar~127.0.0.3~webapp-1.default~default.svc.cluster.local", {
    NAMESPACE: "default",
    WORKLOAD_NAME: "sa-webapp",
    SERVICE_ACCOUNT: "sa-webapp",
    LABELS: { app: "sa-webapp", version: "v2" },
  });
  const routes = [
    routeConfig("80", [
      vhost("sa-logic", ["*"], [
        { match: { prefix: "/api" }, route: { cluster: SVC } },
        { match: { prefix: "/uh" }, route: { cluster: "outbound|80||empty.default.svc.cluster.local" } },
      ]),
    ]),
  ];
  const outboundHcm = (log: string, sampling: number): Json => ({
    access_log: [fileLog(join(dir, log), { text_format_source: { inline_string: ISTIO_TEXT_FORMAT } })],
    tracing: zipkinTracing(sampling),
  });
  await serveConfig(clientAds, client, {
    clusters: [staticCluster(SVC, [serverPort]), staticCluster("outbound|80||empty.default.svc.cluster.local", []), zipkin],
    routes,
    listeners: [
      httpListener("outbound_0.0.0.0_80", { rds: "80", filters: [mx("client"), stats()], hcm: outboundHcm("client.log", 100) }),
      httpListener("outbound_sampling0", { rds: "80", filters: [mx("client"), stats()], hcm: outboundHcm("client0.log", 0) }),
      // The same client, its spans exported as OTLP/HTTP JSON (Istio's opentelemetry provider with http:).
      httpListener("outbound_otlp", { rds: "80", filters: [mx("client"), stats()], hcm: { tracing: otlpTracing(`http://127.0.0.1:${traces.port}/v1/traces`) } }),
    ],
  });
});

after(async () => {
  await client?.stop();
  await server?.stop();
  await clientAds?.stop();
  await serverAds?.stop();
  await traces?.close();
  await app?.close();
  appMetrics?.closeAllConnections();
  await new Promise<void>((r) => (appMetrics ? appMetrics.close(() => r()) : r()));
  rmSync(dir, { recursive: true, force: true });
});

test("client → server: metadata exchanged, stripped before the app, both reporters label both sides", async () => {
  const port = client.listeners.boundPort("outbound_0.0.0.0_80")!;
  const before = app.requests.length;
  const r = await request(port, "/api/hello", { host: "sa-logic" });
  assert.equal(r.status, 200);
  // The app behind the server sidecar and the caller of the client sidecar never see the exchange headers.
  const seen = app.requests[before];
  assert.equal(seen.headers["x-envoy-peer-metadata"], undefined);
  assert.equal(seen.headers["x-envoy-peer-metadata-id"], undefined);
  assert.equal(r.headers["x-envoy-peer-metadata"], undefined);

  const src = samples((await get(`http://127.0.0.1:${client.admin.port}/stats/prometheus`)).body, "istio_requests_total", { reporter: "source", response_code: "200" });
  assert.equal(src.length, 1);
  const s = src[0].labels;
  assert.equal(s.source_workload, "sa-webapp");
  assert.equal(s.source_app, "sa-webapp");
  assert.equal(s.source_version, "v2");
  assert.equal(s.source_workload_namespace, "default");
  assert.equal(s.source_principal, "spiffe://cluster.local/ns/default/sa/sa-webapp");
  assert.equal(s.destination_workload, "sa-logic");
  assert.equal(s.destination_version, "v1");
  assert.equal(s.destination_principal, "spiffe://cluster.local/ns/default/sa/sa-logic");
  assert.equal(s.destination_service, "sa-logic.default.svc.cluster.local");
  assert.equal(s.destination_service_name, "sa-logic");
  assert.equal(s.request_protocol, "http");
  assert.equal(s.response_flags, "-");
  assert.equal(s.connection_security_policy, "unknown");
  assert.ok(src[0].value >= 1);

  // The server's numbers, read from its stats port (Istio's 15090).
  assert.ok(server.telemetry.statsPort);
  const dst = samples((await get(`http://127.0.0.1:${server.telemetry.statsPort}/stats/prometheus`)).body, "istio_requests_total", { reporter: "destination", response_code: "200" });
  assert.equal(dst.length, 1);
  const d = dst[0].labels;
  assert.equal(d.source_workload, "sa-webapp");
  assert.equal(d.source_version, "v2");
  assert.equal(d.destination_workload, "sa-logic");
  assert.equal(d.destination_app, "sa-logic");
  assert.equal(d.destination_service, "sa-logic.default.svc.cluster.local");
  // Plaintext between the sidecars: no client certificate, so not mutual TLS, and no verified source principal.
  assert.equal(d.connection_security_policy, "none");
  assert.equal(d.source_principal, "unknown");
});

test("404 NR and 503 UH are counted with their codes and flags; histograms count every request", async () => {
  const port = client.listeners.boundPort("outbound_0.0.0.0_80")!;
  assert.equal((await request(port, "/nothing-here", { host: "sa-logic" })).status, 404);
  assert.equal((await request(port, "/uh", { host: "sa-logic" })).status, 503);
  const text = (await get(`http://127.0.0.1:${client.admin.port}/stats/prometheus`)).body;
  const nr = samples(text, "istio_requests_total", { reporter: "source", response_code: "404", response_flags: "NR" });
  assert.equal(nr.length, 1);
  assert.equal(nr[0].value, 1);
  // No route means no destination: the peer side stays unknown.
  assert.equal(nr[0].labels.destination_workload, "unknown");
  const uh = samples(text, "istio_requests_total", { reporter: "source", response_code: "503", response_flags: "UH" });
  assert.equal(uh.length, 1);
  assert.equal(uh[0].labels.destination_service, "empty.default.svc.cluster.local");
  // Histograms: _count equals the request count per series, buckets are cumulative and end at +Inf.
  const total = samples(text, "istio_requests_total", { reporter: "source" }).reduce((a, s) => a + s.value, 0);
  const durCount = parseExposition(text)
    .find((f) => f.name === "istio_request_duration_milliseconds")!
    .samples.filter((s) => s.name === "istio_request_duration_milliseconds_count")
    .reduce((a, s) => a + s.value, 0);
  assert.equal(durCount, total);
  const buckets = parseExposition(text)
    .find((f) => f.name === "istio_response_bytes")!
    .samples.filter((s) => s.name === "istio_response_bytes_bucket" && s.labels.response_code === "200");
  assert.ok(buckets.length > 1);
  assert.equal(buckets[buckets.length - 1].labels.le, "+Inf");
  for (let i = 1; i < buckets.length; i++) assert.ok(buckets[i].value >= buckets[i - 1].value);
  // The Envoy-style counters are still there next to Istio's.
  assert.match(text, /envoy_http_downstream_rq_total\{envoy_http_conn_manager_prefix="outbound_0\.0\.0\.0_80"\}/);
});

test("access logs: Istio's TEXT format at the client, JSON at the server, one line per request, the same x-request-id on both hops", async () => {
  const port = client.listeners.boundPort("outbound_0.0.0.0_80")!;
  const id = "5f0c2b7e-1a3d-4c8e-9b6a-0123456789ab";
  const clientBefore = (await lines(join(dir, "client.log"), 0)).length;
  const serverBefore = (await lines(join(dir, "server.log"), 0)).length;
  assert.equal((await request(port, "/api/log?x=1", { host: "sa-logic", headers: { "x-request-id": id, "user-agent": "telemetry-test" } })).status, 200);
  const clientLines = await lines(join(dir, "client.log"), clientBefore + 1);
  const serverLines = await lines(join(dir, "server.log"), serverBefore + 1);
  assert.equal(clientLines.length, clientBefore + 1);
  assert.equal(serverLines.length, serverBefore + 1);
  const text = clientLines[clientLines.length - 1];
  // [START_TIME] "GET /api/log?x=1 HTTP/1.1" 200 - via_upstream - "-" 0 <bytes> <ms> <ms> "-" "telemetry-test" "<id>" "sa-logic" "<host>" outbound|80||sa-logic... <local> <local> <remote> - -
  const m = /^\[(\S+)\] "GET \/api\/log\?x=1 HTTP\/1\.1" 200 - via_upstream - "-" 0 (\d+) (\d+) (\d+|-) "-" "telemetry-test" "([^"]+)" "sa-logic" "127\.0\.0\.1:(\d+)" (\S+) /.exec(text);
  assert.ok(m, `client line does not match Istio's TEXT format: ${text}`);
  assert.ok(!Number.isNaN(Date.parse(m[1])));
  assert.ok(Number(m[2]) > 0, "bytes sent");
  assert.equal(m[5], id);
  assert.equal(Number(m[6]), server.listeners.boundPort("inbound_0.0.0.0_9080"));
  assert.equal(m[7], SVC);
  const json = JSON.parse(serverLines[serverLines.length - 1]) as Record<string, unknown>;
  assert.deepEqual(Object.keys(json).sort(), Object.keys(ISTIO_JSON_FORMAT).sort());
  assert.equal(json.request_id, id);
  assert.equal(json.response_code, 200);
  assert.equal(json.method, "GET");
  assert.equal(json.path, "/api/log?x=1");
  assert.equal(json.upstream_cluster, "inbound|9080||");
  assert.equal(json.upstream_host, `127.0.0.1:${app.port}`);
  assert.equal(json.response_flags, "-");
});

async function spansFor(requestId: string): Promise<{ id: string; parentId?: string; kind: string; traceId: string; localEndpoint: { serviceName: string }; tags: Record<string, string> }[]> {
  await client.telemetry.flushTraces();
  await server.telemetry.flushTraces();
  const r = await get(`${traces.url}/api/v2/traces?annotationQuery=${encodeURIComponent(`guid:x-request-id=${requestId}`)}&limit=10`);
  assert.equal(r.status, 200);
  return (JSON.parse(r.body) as never[][]).flat();
}

test("tracing: the client span is the parent of the server span, in one trace, with tags", async () => {
  const port = client.listeners.boundPort("outbound_0.0.0.0_80")!;
  const id = "a1b2c3d4-0000-4000-8000-000000000001";
  assert.equal((await request(port, "/api/traced", { host: "sa-logic", headers: { "x-request-id": id, "x-user": "jason" } })).status, 200);
  const spans = await spansFor(id);
  assert.equal(spans.length, 2, JSON.stringify(spans));
  const c = spans.find((s) => s.kind === "CLIENT")!;
  const s = spans.find((x) => x.kind === "SERVER")!;
  assert.ok(c && s);
  assert.equal(c.traceId, s.traceId);
  assert.equal(s.parentId, c.id);
  assert.equal(c.parentId, undefined);
  assert.equal(c.localEndpoint.serviceName, "sa-webapp.default");
  assert.equal(s.localEndpoint.serviceName, "sa-logic.default");
  assert.equal(c.tags["http.status_code"], "200");
  assert.equal(c.tags["upstream_cluster"], SVC);
  assert.equal(c.tags["istio.mesh"], "skiff-test");
  assert.equal(c.tags.user, "jason");
  // The app got the server span's context: its traceparent names the server span as parent.
  const seen = app.requests.find((r) => r.headers["x-request-id"] === id)!;
  assert.match(String(seen.headers.traceparent), new RegExp(`^00-${s.traceId}-${s.id}-01$`));
  assert.equal(seen.headers["x-b3-spanid"], s.id);
});

test("tracing: an incoming W3C context is continued; 0% sampling at the first hop is honoured by the next", async () => {
  const port = client.listeners.boundPort("outbound_0.0.0.0_80")!;
  const id = "a1b2c3d4-0000-4000-8000-000000000002";
  const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
  await request(port, "/api/continued", { host: "sa-logic", headers: { "x-request-id": id, traceparent: `00-${traceId}-00f067aa0ba902b7-01` } });
  const spans = await spansFor(id);
  assert.equal(spans.length, 2);
  for (const sp of spans) assert.equal(sp.traceId, traceId);
  assert.equal(spans.find((x) => x.kind === "CLIENT")!.parentId, "00f067aa0ba902b7");

  const port0 = client.listeners.boundPort("outbound_sampling0")!;
  const id0 = "a1b2c3d4-0000-4000-8000-000000000003";
  assert.equal((await request(port0, "/api/unsampled", { host: "sa-logic", headers: { "x-request-id": id0 } })).status, 200);
  assert.deepEqual(await spansFor(id0), []);
  // The decision travelled: the app sees sampled=0 although the server samples 100% by itself.
  const seen = app.requests.find((r) => r.headers["x-request-id"] === id0)!;
  assert.match(String(seen.headers.traceparent), /-00$/);
  // Forcing (x-envoy-force-trace) overrides 0%.
  const id1 = "a1b2c3d4-0000-4000-8000-000000000004";
  await request(port0, "/api/forced", { host: "sa-logic", headers: { "x-request-id": id1, "x-envoy-force-trace": "true" } });
  assert.equal((await spansFor(id1)).length, 2);
});

test("tracing: an incoming B3 context is continued and W3C tracestate reaches the app unchanged, through both proxies", async () => {
  const port = client.listeners.boundPort("outbound_0.0.0.0_80")!;
  // Zipkin's B3 multi-headers from a caller that is not in the mesh (64-bit ids are widened).
  const b3Id = "a1b2c3d4-0000-4000-8000-000000000005";
  const b3Trace = "80f198ee56343ba864fe8b2a57d3eff7";
  await request(port, "/api/b3", { host: "sa-logic", headers: { "x-request-id": b3Id, "x-b3-traceid": b3Trace, "x-b3-spanid": "e457b5a2e4d86bd1", "x-b3-sampled": "1" } });
  const b3Spans = await spansFor(b3Id);
  assert.equal(b3Spans.length, 2, JSON.stringify(b3Spans));
  for (const sp of b3Spans) assert.equal(sp.traceId, b3Trace);
  assert.equal(b3Spans.find((x) => x.kind === "CLIENT")!.parentId, "e457b5a2e4d86bd1");
  const server1 = b3Spans.find((x) => x.kind === "SERVER")!;
  const b3Seen = app.requests.find((r) => r.headers["x-request-id"] === b3Id)!;
  // The app gets the server span's context in every format the proxy writes.
  assert.equal(b3Seen.headers["x-b3-traceid"], b3Trace);
  assert.equal(b3Seen.headers["x-b3-spanid"], server1.id);
  assert.equal(b3Seen.headers["x-b3-sampled"], "1");
  assert.equal(b3Seen.headers.traceparent, `00-${b3Trace}-${server1.id}-01`);

  // A W3C caller's vendor state travels untouched to the app.
  const w3cId = "a1b2c3d4-0000-4000-8000-000000000006";
  const traceId = "0af7651916cd43dd8448eb211c80319c";
  const tracestate = "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7";
  await request(port, "/api/tracestate", { host: "sa-logic", headers: { "x-request-id": w3cId, traceparent: `00-${traceId}-b7ad6b7169203331-01`, tracestate } });
  const w3cSeen = app.requests.find((r) => r.headers["x-request-id"] === w3cId)!;
  assert.match(String(w3cSeen.headers.traceparent), new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`));
  assert.equal(w3cSeen.headers.tracestate, tracestate);
});

test("x-request-id is generated when the caller sends none, and x-client-trace-id forces a trace past 0% sampling", async () => {
  const port0 = client.listeners.boundPort("outbound_sampling0")!;
  const before = app.requests.length;
  assert.equal((await request(port0, "/api/client-trace-id", { host: "sa-logic", headers: { "x-client-trace-id": "user-session-42" } })).status, 200);
  const seen = app.requests.slice(before).find((r) => r.url === "/api/client-trace-id")!;
  const id = String(seen.headers["x-request-id"]);
  // The client proxy made the id (a UUID v4) and the server proxy kept it for the app.
  assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  const spans = await spansFor(id);
  assert.equal(spans.length, 2, `forced by x-client-trace-id at 0%: ${JSON.stringify(spans)}`);
  assert.equal(spans.find((x) => x.kind === "SERVER")!.parentId, spans.find((x) => x.kind === "CLIENT")!.id);
});

test("tracing: an OpenTelemetry provider exports the client span as OTLP/HTTP, joined with the server's Zipkin span", async () => {
  const port = client.listeners.boundPort("outbound_otlp")!;
  const id = "a1b2c3d4-0000-4000-8000-000000000007";
  assert.equal((await request(port, "/api/otlp", { host: "sa-logic", headers: { "x-request-id": id } })).status, 200);
  const spans = await spansFor(id);
  assert.equal(spans.length, 2, JSON.stringify(spans));
  const c = spans.find((s) => s.kind === "CLIENT")!;
  const s = spans.find((x) => x.kind === "SERVER")!;
  // The OTLP span carries the provider's service_name; the server's came over Zipkin.
  assert.equal(c.localEndpoint.serviceName, "sa-webapp-otel.default");
  assert.equal(s.localEndpoint.serviceName, "sa-logic.default");
  assert.equal(s.traceId, c.traceId);
  assert.equal(s.parentId, c.id);
});

test("merged metrics port: the proxy's families and the app's own, in one valid exposition", async () => {
  assert.ok(server.telemetry.mergePort);
  const r = await get(`http://127.0.0.1:${server.telemetry.mergePort}/stats/prometheus`);
  assert.equal(r.status, 200);
  const fams = parseExposition(r.body);
  assert.ok(fams.find((f) => f.name === "istio_requests_total"));
  assert.equal(fams.find((f) => f.name === "app_hits_total")?.samples[0].value, 3);
});
