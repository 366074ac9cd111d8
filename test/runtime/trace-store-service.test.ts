// The embedded trace store as `skiff up` registers it: a Service zipkin.istio-system:9411 with
// one endpoint where the store listens, which the registry resolves and translation, with
// Istio's default mesh config, uses as the Zipkin collector of every proxy.
import { test } from "node:test";
import assert from "node:assert/strict";
import { buildRegistry } from "../../src/registry/build.ts";
import { endpointKey } from "../../src/registry/index.ts";
import { translate, defaultMeshConfig, type EnvoyJson, type ProxyNode } from "../../src/pilot/translate/index.ts";
import { DEFAULT_TRACE_PORT, TRACE_STORE_ADDRESS, traceStoreResources } from "../../src/runtime/index.ts";

const HOST = "zipkin.istio-system.svc.cluster.local";

test("the store's Service and WorkloadEntry give zipkin.istio-system:9411 one endpoint at the store's real address", () => {
  assert.equal(TRACE_STORE_ADDRESS, "zipkin.istio-system:9411");
  assert.equal(DEFAULT_TRACE_PORT, 9411);
  const registry = buildRegistry(traceStoreResources("198.18.0.1", 41234), { domain: "cluster.local", version: 1 });
  assert.deepEqual(
    registry.services.map((s) => [s.hostname, s.ports.map((p) => p.port)]),
    [[HOST, [9411]]],
  );
  const endpoints = registry.endpoints.get(endpointKey(HOST, 9411)) ?? [];
  assert.deepEqual(
    endpoints.map((e) => [e.address, e.port]),
    [["198.18.0.1", 41234]],
  );
  // No sidecar in front of the store: no tlsMode label, so proxies send it plaintext.
  assert.equal(endpoints[0].labels["security.istio.io/tlsMode"], undefined);
});

test("with Istio's default mesh config a sidecar's tracer exports to the store's service cluster", () => {
  const config = traceStoreResources("127.0.0.1", 41234);
  const proxy: ProxyNode = {
    id: "sidecar~127.0.0.1~app-0.demo~demo.svc.cluster.local",
    type: "sidecar",
    ipAddresses: ["127.0.0.1"],
    podName: "app-0.demo",
    namespace: "demo",
    labels: { app: "app" },
    serviceAccount: "app",
    workloadName: "app",
    metadata: { INTERCEPTION_MODE: "NONE", HTTP_PROXY_PORT: "15080" },
  };
  const result = translate({ config, registry: buildRegistry(config, { domain: "cluster.local", version: 1 }), mesh: defaultMeshConfig, version: 1 }, proxy);
  const tracers = JSON.stringify(result.resources.listeners).match(/"collector_cluster":"[^"]+"/g) ?? [];
  assert.ok(tracers.length > 0, "no listener traces");
  assert.deepEqual([...new Set(tracers)], [`"collector_cluster":"outbound|9411||${HOST}"`]);
  const cluster = result.resources.clusters.find((c: EnvoyJson) => c.name === `outbound|9411||${HOST}`);
  assert.ok(cluster, "the store's service has its outbound cluster");
});
