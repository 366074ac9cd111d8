// Proxyless gRPC clients validate CDS and EDS resources themselves and reject what
// they do not support. These tests run @grpc/grpc-js-xds's own resource decoders
// (its internal build modules: there is no public entry point for them) over what
// Skiff sends a proxyless client, wire-encoded as on ADS.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { buildPushContext, proxyView } from "../../../src/pilot/translate/context.ts";
import { buildClusters, edsClusterNames } from "../../../src/pilot/translate/clusters.ts";
import { buildEndpoints } from "../../../src/pilot/translate/endpoints.ts";
import { encodeAny } from "../../../src/envoy/index.ts";
import { TypeUrl } from "../../../src/pilot/translate/types.ts";
import { endpoint, kubeService, res, sidecarProxy, snapshot } from "./cluster-fixtures.ts";

interface Decoded {
  name: string;
  error?: string;
  value?: Record<string, unknown>;
}
interface ResourceType {
  decode(context: unknown, resource: unknown): Decoded;
}
const require = createRequire(import.meta.url);
const { ClusterResourceType } = require("@grpc/grpc-js-xds/build/src/xds-resource-type/cluster-resource-type.js") as { ClusterResourceType: { get(): ResourceType } };
const { EndpointResourceType } = require("@grpc/grpc-js-xds/build/src/xds-resource-type/endpoint-resource-type.js") as { EndpointResourceType: { get(): ResourceType } };

const echo = kubeService("echo", "default", [{ name: "grpc", port: 7070, protocol: "GRPC" }]);
const eps = [
  endpoint(echo, 7070, "127.0.0.1", { port: 7071, labels: { version: "v1" } }),
  endpoint(echo, 7070, "127.0.0.1", { port: 7072, labels: { version: "v2" }, locality: "r1/z1", weight: 9 }),
];
const dr = res("DestinationRule", "default", "echo", {
  host: "echo",
  trafficPolicy: {
    loadBalancer: { simple: "LEAST_REQUEST" },
    outlierDetection: { consecutive5xxErrors: 3, interval: "1s", baseEjectionTime: "30s" },
    connectionPool: { http: { http2MaxRequests: 100 } },
  },
  subsets: [
    { name: "v1", labels: { version: "v1" } },
    { name: "v2", labels: { version: "v2" }, trafficPolicy: { loadBalancer: { consistentHash: { httpHeaderName: "x-user" } } } },
  ],
});
const view = proxyView(buildPushContext(snapshot([echo], eps, [dr])), { ...sidecarProxy("default"), type: "proxyless" });
const clusters = buildClusters(view);
const context = { server: {} };

test("grpc-js-xds accepts every cluster a proxyless client gets", () => {
  assert.deepEqual(clusters.map((c) => c.name), [
    "outbound|7070|v1|echo.default.svc.cluster.local",
    "outbound|7070|v2|echo.default.svc.cluster.local",
    "outbound|7070||echo.default.svc.cluster.local",
  ]);
  for (const c of clusters) {
    const decoded = ClusterResourceType.get().decode(context, encodeAny({ "@type": TypeUrl.cluster, ...c }));
    assert.equal(decoded.error, undefined, `${c.name}: ${decoded.error}`);
    assert.equal(decoded.value?.maxConcurrentRequests, 100, "the connection pool reaches the client");
  }
});

test("grpc-js-xds accepts the endpoints, subset by subset", () => {
  const assignments = buildEndpoints(view, edsClusterNames(clusters));
  for (const cla of assignments) {
    const decoded = EndpointResourceType.get().decode(context, encodeAny({ "@type": TypeUrl.endpoint, ...cla }));
    assert.equal(decoded.error, undefined, `${String(cla.cluster_name)}: ${decoded.error}`);
  }
  const ports = (name: string) => JSON.stringify(assignments.find((a) => a.cluster_name === name)).match(/"port_value":\d+/g);
  assert.deepEqual(ports("outbound|7070|v1|echo.default.svc.cluster.local"), ['"port_value":7071']);
  assert.deepEqual(ports("outbound|7070|v2|echo.default.svc.cluster.local"), ['"port_value":7072']);
});
