// The proxy's xDS behaviour: ACK, NACK with a precise error while keeping the previous
// config, warming (a listener serves only once its routes and clusters are known),
// drain on listener replacement, and the admin endpoints that show all of it.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { TestAdsServer } from "./helpers/ads-server.ts";
import { edsCluster, httpListener, loadAssignment, request, routeConfig, serve, startProxy, startUpstream, staticCluster, vhost, type Json, type RunningProxy, type Upstream } from "./helpers/fixtures.ts";

let ads: TestAdsServer;
let proxy: RunningProxy;
let app: Upstream;
const release: Array<() => void> = [];

const direct = (body: string): Json => routeConfig("inline", [vhost("all", ["*"], [{ match: { prefix: "/" }, direct_response: { status: 200, body: { inline_string: body } } }])]);

before(async () => {
  ads = new TestAdsServer();
  await ads.start();
  // /slow waits until the test releases it: an in-flight request we control.
  app = await startUpstream((req, res) => {
    if (req.url === "/slow") release.push(() => res.end("slow done"));
    else res.end("app");
  });
  proxy = await startProxy(ads, { warmingTimeoutMs: 20_000 });
  await serve(ads, proxy, {
    clusters: [staticCluster("app", [app.port])],
    listeners: [httpListener("main", { rds: "main" }), httpListener("inline", { routeConfig: direct("v1") })],
    routes: [routeConfig("main", [vhost("all", ["*"], [{ match: { prefix: "/" }, route: { cluster: "app" } }])])],
  });
});

after(async () => {
  for (const r of release) r();
  await proxy.stop();
  await ads.stop();
  await app.close();
});

test("ACKs carry the version and nonce of what was applied", async () => {
  const ack = await ads.waitForAck("LDS", ads.version("LDS"));
  assert.notEqual(ack.nonce, "");
  const rds = await ads.waitForAck("RDS", ads.version("RDS"));
  assert.deepEqual(rds.names, ["main"]);
  assert.equal((await request(proxy.port("main"), "/")).body, "app");
});

test("an unimplemented HTTP filter is NACKed with its path; the previous config stays in effect", async () => {
  const previous = ads.version("LDS");
  const bad = httpListener("inline", {
    routeConfig: direct("v2"),
    filters: [{ name: "envoy.filters.http.local_ratelimit", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit", stat_prefix: "rl" } }],
  });
  ads.set("LDS", [httpListener("main", { rds: "main" }), bad]);
  const nack = await ads.waitForNack("LDS");
  assert.equal(nack.version, previous, "a NACK reports the last accepted version");
  assert.match(nack.error!, /listener inline: filter_chains\[0\]\.filters\[0\]\.typed_config\.http_filters\[0\]\.typed_config: HTTP filter "envoy\.filters\.http\.local_ratelimit" .* is not implemented/);
  assert.equal((await request(proxy.port("inline"), "/")).body, "v1");
  const dump = (await (await fetch(`${proxy.adminUrl}/config_dump`)).json()) as { configs: Json[] };
  const listeners = dump.configs.find((c) => c["@type"] === "type.googleapis.com/envoy.admin.v3.ListenersConfigDump")!;
  assert.equal(listeners.version_info, previous);
  const inline = (listeners.dynamic_listeners as Json[]).find((l) => l.name === "inline")!;
  assert.match(String((inline.error_state as Json).details), /not implemented/);
});

test("an invalid RE2 regex in RDS is NACKed naming the field", async () => {
  ads.set("RDS", [routeConfig("main", [vhost("all", ["*"], [{ match: { safe_regex: { regex: "(" } }, route: { cluster: "app" } }])])]);
  const nack = await ads.waitForRequest((r) => r.type === "RDS" && r.error !== undefined);
  assert.match(nack.error!, /route configuration main: virtual_hosts\[0\]\.routes\[0\]\.match\.safe_regex\.regex: invalid RE2 regex/);
  assert.equal((await request(proxy.port("main"), "/")).body, "app");
});

test("warming: a listener serves only once its route configuration arrives", async () => {
  const good = [httpListener("main", { rds: "main" }), httpListener("inline", { routeConfig: direct("v1") })];
  ads.set("RDS", [routeConfig("main", [vhost("all", ["*"], [{ match: { prefix: "/" }, route: { cluster: "app" } }])])]);
  ads.set("LDS", [...good, httpListener("late", { rds: "late" })]);
  await ads.waitForRequest((r) => r.type === "RDS" && r.names.includes("late"));
  // RDS for "late" is not served yet: the listener is warming, not bound, and /ready says so.
  assert.equal(proxy.proxy.listeners.boundPort("late"), undefined);
  const ready = await fetch(`${proxy.adminUrl}/ready`);
  assert.equal(ready.status, 503);
  assert.equal((await ready.text()).trim(), "INITIALIZING");
  const dump = (await (await fetch(`${proxy.adminUrl}/config_dump`)).json()) as { configs: Json[] };
  const late = ((dump.configs[2].dynamic_listeners as Json[]) ?? []).find((l) => l.name === "late")!;
  assert.ok(late.warming_state && !late.active_state);
  ads.set("RDS", [
    routeConfig("main", [vhost("all", ["*"], [{ match: { prefix: "/" }, route: { cluster: "app" } }])]),
    routeConfig("late", [vhost("all", ["*"], [{ match: { prefix: "/" }, direct_response: { status: 200, body: { inline_string: "late" } } }])]),
  ]);
  await proxy.proxy.waitReady(5000);
  assert.equal((await request(proxy.port("late"), "/")).body, "late");
  assert.equal((await (await fetch(`${proxy.adminUrl}/ready`)).text()).trim(), "LIVE");
});

test("replacing a listener drains the old one without dropping the request in flight", async () => {
  const port = proxy.port("main");
  const inflight = request(port, "/slow");
  const deadline = Date.now() + 5000;
  while (release.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  assert.equal(release.length, 1, "the slow request reached the app");
  // New version of "main": same address, routes to a direct response now.
  const replaced = httpListener("main", { routeConfig: direct("replaced") });
  const v = ads.set("LDS", [replaced, httpListener("inline", { routeConfig: direct("v1") }), httpListener("late", { rds: "late" })]);
  await ads.waitForAck("LDS", v);
  assert.equal(proxy.port("main"), port, "the socket is kept across the update");
  assert.equal((await request(port, "/")).body, "replaced");
  release.shift()!();
  const r = await inflight;
  assert.equal(r.status, 200);
  assert.equal(r.body, "slow done");
});

test("admin: /listeners, /clusters, /stats, /stats/prometheus, /server_info, /logging", async () => {
  const listeners = await (await fetch(`${proxy.adminUrl}/listeners`)).text();
  assert.match(listeners, new RegExp(`^main::127\\.0\\.0\\.1:${proxy.port("main")}$`, "m"));
  const clusters = await (await fetch(`${proxy.adminUrl}/clusters`)).text();
  assert.match(clusters, new RegExp(`^app::127\\.0\\.0\\.1:${app.port}::health_flags::healthy$`, "m"));
  assert.match(clusters, new RegExp(`^app::127\\.0\\.0\\.1:${app.port}::rq_total::\\d+$`, "m"));
  assert.match(clusters, /^app::default_priority::max_connections::1024$/m);
  const stats = await (await fetch(`${proxy.adminUrl}/stats`)).text();
  assert.match(stats, /^http\.main\.downstream_rq_total: [1-9]\d*$/m);
  assert.match(stats, /^cluster\.app\.upstream_rq_total: [1-9]\d*$/m);
  const filtered = await (await fetch(`${proxy.adminUrl}/stats?filter=^cluster\\.app\\.upstream_rq_2xx$`)).text();
  assert.match(filtered, /^cluster\.app\.upstream_rq_2xx: [1-9]\d*\n$/);
  const prom = await (await fetch(`${proxy.adminUrl}/stats/prometheus`)).text();
  assert.match(prom, /^envoy_cluster_upstream_rq_total\{envoy_cluster_name="app"\} [1-9]\d*$/m);
  assert.match(prom, /^envoy_http_downstream_rq_total\{envoy_http_conn_manager_prefix="main"\} [1-9]\d*$/m);
  assert.match(prom, /^# TYPE envoy_listener_downstream_cx_active gauge$/m);
  const info = (await (await fetch(`${proxy.adminUrl}/server_info`)).json()) as Json;
  assert.equal(info.state, "LIVE");
  assert.equal((info.node as Json).id, "sidecar~127.0.0.1~test.default~default.svc.cluster.local");
  assert.equal((await fetch(`${proxy.adminUrl}/logging?level=debug`)).status, 405);
  const set = await fetch(`${proxy.adminUrl}/logging?level=warning`, { method: "POST" });
  assert.match(await set.text(), /skiff-proxy: warning/);
  assert.equal(proxy.proxy.logger.level, "warning");
});

test("admin /config_dump has Envoy's shape", async () => {
  const dump = (await (await fetch(`${proxy.adminUrl}/config_dump`)).json()) as { configs: Json[] };
  const types = dump.configs.map((c) => c["@type"]);
  for (const t of ["BootstrapConfigDump", "ClustersConfigDump", "ListenersConfigDump", "RoutesConfigDump", "EndpointsConfigDump"])
    assert.ok(types.includes(`type.googleapis.com/envoy.admin.v3.${t}`), t);
  const clusters = dump.configs.find((c) => c["@type"] === "type.googleapis.com/envoy.admin.v3.ClustersConfigDump")!;
  const app0 = (clusters.dynamic_active_clusters as Json[])[0];
  assert.equal((app0.cluster as Json)["@type"], "type.googleapis.com/envoy.config.cluster.v3.Cluster");
  assert.equal((app0.cluster as Json).name, "app");
  assert.match(String(app0.last_updated), /^\d{4}-\d\d-\d\dT/);
  const routes = dump.configs.find((c) => c["@type"] === "type.googleapis.com/envoy.admin.v3.RoutesConfigDump")!;
  const names = (routes.dynamic_route_configs as Json[]).map((r) => (r.route_config as Json).name);
  // "main" switched to an inline route config in the drain test, so RDS "main" is gone.
  assert.deepEqual(names, ["late"]);
});

test("after the server ends the stream the client reconnects and resumes from its accepted versions", async () => {
  const lds = proxy.proxy.xds!.typeStatus("LDS").version;
  const seenBefore = ads.requests.length;
  ads.dropStreams();
  // A fresh stream starts with requests that carry the last accepted version and no nonce.
  const resumed = await ads.waitForRequest((r) => ads.requests.indexOf(r) >= seenBefore && r.type === "LDS" && r.nonce === "" && r.version === lds, 10_000);
  assert.equal(resumed.version, lds);
  await ads.waitForRequest((r) => ads.requests.indexOf(r) >= seenBefore && r.type === "LDS" && r.nonce !== "", 5000);
  assert.equal((await request(proxy.port("inline"), "/")).body, "v1");
  assert.ok(proxy.proxy.xds!.counters.reconnects >= 1);
});

test("warming: a listener whose route names an EDS cluster waits for the cluster's endpoints", async () => {
  const v = ads.set("CDS", [staticCluster("app", [app.port]), edsCluster("later")]);
  await ads.waitForAck("CDS", v);
  const needs = httpListener("needs-cluster", { routeConfig: routeConfig("nc", [vhost("all", ["*"], [{ match: { prefix: "/" }, route: { cluster: "later" } }])]) });
  const l = ads.set("LDS", [httpListener("main", { routeConfig: direct("replaced") }), httpListener("inline", { routeConfig: direct("v1") }), needs]);
  await ads.waitForAck("LDS", l);
  assert.equal(proxy.proxy.listeners.boundPort("needs-cluster"), undefined, "still warming: no endpoints for 'later' yet");
  ads.set("EDS", [loadAssignment("later", [app.port])]);
  await proxy.proxy.waitReady(5000);
  assert.equal((await request(proxy.port("needs-cluster"), "/")).body, "app");
});
