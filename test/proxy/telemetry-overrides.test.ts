// Telemetry API metric overrides as the stats filter receives them (stats.PluginConfig
// `metrics[]`): drop, tags_to_remove, constant and per-request (CEL) dimensions; two listeners with different
// overrides on one proxy expose one valid family.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { TestAdsServer } from "./helpers/ads-server.ts";
import { httpListener, request, routeConfig, serve, startProxy, staticCluster, startUpstream, vhost, type RunningProxy, type Upstream } from "./helpers/fixtures.ts";
import { parseExposition } from "../../src/telemetry/index.ts";

const TYPED_STRUCT = "type.googleapis.com/udpa.type.v1.TypedStruct";
const stats = (value: Record<string, unknown>) => ({ name: "istio.stats", typed_config: { "@type": TYPED_STRUCT, type_url: "type.googleapis.com/stats.PluginConfig", value } });
let ads: TestAdsServer;
let proxy: RunningProxy;
let app: Upstream;

before(async () => {
  app = await startUpstream(undefined, "app");
  ads = new TestAdsServer();
  await ads.start();
  proxy = await startProxy(ads);
  const routes = [routeConfig("80", [vhost("all", ["*"], [{ match: { prefix: "/" }, route: { cluster: "outbound|80||app.default.svc.cluster.local" } }])])];
  await serve(ads, proxy, {
    clusters: [staticCluster("outbound|80||app.default.svc.cluster.local", [app.port])],
    routes,
    listeners: [
      httpListener("plain", { rds: "80", filters: [stats({})] }),
      httpListener("overridden", {
        rds: "80",
        filters: [
          stats({
            metrics: [
              { name: "requests_total", dimensions: { mesh_name: "'local'", request_host: "request.host", tenant: "request.headers['x-tenant']", destination_service: "request.host + ':' + string(response.code)" }, tags_to_remove: ["request_protocol", "destination_canonical_revision"] },
              { name: "request_bytes", drop: true },
            ],
          }),
        ],
      }),
    ],
  });
});

after(async () => {
  await proxy?.stop();
  await ads?.stop();
  await app?.close();
});

test("removed tags are gone, constant and per-request (CEL) dimensions are added, dropped metrics are not counted", async () => {
  assert.equal((await request(proxy.port("plain"), "/", { host: "app" })).status, 200);
  assert.equal((await request(proxy.port("overridden"), "/", { host: "app", headers: { "x-tenant": "blue" } })).status, 200);
  assert.equal((await request(proxy.port("overridden"), "/", { host: "app", headers: { "x-tenant": "blue" } })).status, 200);
  assert.equal((await request(proxy.port("overridden"), "/", { host: "app" })).status, 200);
  const fams = parseExposition(await (await fetch(`${proxy.adminUrl}/stats/prometheus`)).text());
  const requests = fams.find((f) => f.name === "istio_requests_total")!.samples;
  const plain = requests.filter((s) => s.labels.mesh_name === undefined);
  const over = requests.filter((s) => s.labels.mesh_name === "local");
  assert.equal(plain.length, 1);
  assert.equal(plain[0].value, 1);
  assert.equal(plain[0].labels.request_protocol, "http");
  // Per-request CEL values: one series per tenant header value; a missing header is "unknown".
  assert.deepEqual(over.map((s) => `${s.labels.tenant}=${s.value}`).sort(), ["blue=2", "unknown=1"]);
  for (const o of over) {
    assert.equal(o.labels.request_protocol, undefined);
    assert.equal(o.labels.destination_canonical_revision, undefined);
    assert.equal(o.labels.request_host, "app");
    // A per-request value for an existing label replaces it (once, not twice).
    assert.equal(o.labels.destination_service, "app:200");
    assert.equal(o.labels.response_code, "200");
  }
  // Only requests_total had the overrides: the duration histogram keeps Istio's labels.
  const duration = fams.find((f) => f.name === "istio_request_duration_milliseconds")!.samples.filter((s) => s.name.endsWith("_count"));
  assert.ok(duration.every((s) => s.labels.tenant === undefined && s.labels.destination_service === "app.default.svc.cluster.local"));
  assert.equal(duration.reduce((a, s) => a + s.value, 0), 4);
  // request_bytes is dropped on the overridden listener only.
  const bytesCount = fams.find((f) => f.name === "istio_request_bytes")!.samples.filter((s) => s.name === "istio_request_bytes_count");
  assert.deepEqual(bytesCount.map((s) => s.value), [1]);
});
