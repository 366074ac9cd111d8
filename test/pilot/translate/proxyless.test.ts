// Proxyless gRPC translation: the listeners a gRPC client asks for by name become
// api_listeners whose routes, clusters and endpoints follow the mesh's Istio config.
import { test } from "node:test";
import assert from "node:assert/strict";
import { loadText } from "../../../src/api/index.ts";
import { buildRegistry } from "../../../src/registry/index.ts";
import { translate, defaultMeshConfig, type MeshSnapshot, type ProxyNode, type EnvoyJson } from "../../../src/pilot/translate/index.ts";
import { encodeAny, TypeUrl } from "../../../src/envoy/index.ts";
import { meshYaml, serviceYaml, versionSubsetsYaml, workloadEntryYaml } from "../helpers/mesh-yaml.ts";

const MESH = meshYaml(
  serviceYaml({ name: "greeter", namespace: "demo", port: 50051, portName: "grpc", targetPort: 50051 }),
  workloadEntryYaml("greeter-v1", "demo", "{ address: 127.0.0.11, labels: { app: greeter, version: v1 }, ports: { grpc: 7001 } }"),
  workloadEntryYaml("greeter-v2", "demo", "{ address: 127.0.0.12, labels: { app: greeter, version: v2 }, ports: { grpc: 7002 } }"),
  versionSubsetsYaml("greeter", "demo", ["v1", "v2"]),
);

const SPLIT = `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: greeter, namespace: demo }
spec:
  hosts: [greeter]
  http:
  - match: [{ headers: { x-canary: { exact: "yes" } } }]
    route: [{ destination: { host: greeter, subset: v2 } }]
  - route:
    - { destination: { host: greeter, subset: v1 }, weight: 90 }
    - { destination: { host: greeter, subset: v2 }, weight: 10 }
`;

function snapshot(yaml: string): MeshSnapshot {
  const loaded = loadText(yaml, "mesh.yaml");
  assert.deepEqual(loaded.diagnostics.filter((d) => d.severity === "error"), []);
  return {
    config: loaded.resources,
    registry: buildRegistry(loaded.resources, { domain: "cluster.local", version: 1 }),
    mesh: defaultMeshConfig,
    version: 1,
  };
}

function client(requestedListeners: string[]): ProxyNode {
  return {
    id: "sidecar~127.0.0.1~client.demo~demo.svc.cluster.local",
    type: "proxyless",
    ipAddresses: ["127.0.0.1"],
    podName: "client.demo",
    namespace: "demo",
    labels: {},
    serviceAccount: "default",
    workloadName: "client",
    metadata: { GENERATOR: "grpc" },
    requestedListeners,
  };
}

const FQDN = "greeter.demo.svc.cluster.local";
const v1 = `outbound|50051|v1|${FQDN}`;
const v2 = `outbound|50051|v2|${FQDN}`;

test("a requested host:port becomes an api_listener with RDS, routes from the VirtualService, subset clusters and endpoints", () => {
  const { resources, problems } = translate(snapshot(MESH + "---" + SPLIT), client(["greeter:50051"]));
  assert.deepEqual(problems, []);
  assert.equal(resources.listeners.length, 1);
  const listener = resources.listeners[0];
  assert.equal(listener.name, "greeter:50051");
  const hcm = (listener.api_listener as EnvoyJson).api_listener as EnvoyJson;
  assert.equal(hcm["@type"], "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager");
  assert.equal((hcm.rds as EnvoyJson).route_config_name, "greeter:50051");

  const route = resources.routes[0];
  assert.equal(route.name, "greeter:50051");
  const vhost = (route.virtual_hosts as EnvoyJson[])[0];
  assert.ok((vhost.domains as string[]).includes("greeter:50051"), "gRPC matches the target authority");
  const routes = vhost.routes as EnvoyJson[];
  assert.deepEqual((routes[0].match as EnvoyJson).headers, [{ name: "x-canary", string_match: { exact: "yes" } }]);
  assert.equal((routes[0].route as EnvoyJson).cluster, v2);
  assert.deepEqual(((routes[1].route as EnvoyJson).weighted_clusters as EnvoyJson).clusters, [
    { name: v1, weight: 90 },
    { name: v2, weight: 10 },
  ]);

  assert.deepEqual(resources.clusters.map((c) => c.name), [v1, v2]);
  assert.ok(resources.clusters.every((c) => c.type === "EDS"));
  const endpoints = Object.fromEntries(
    resources.endpoints.map((cla) => [
      cla.cluster_name,
      (cla.endpoints as EnvoyJson[]).flatMap((l) => (l.lb_endpoints as EnvoyJson[]).map((e) => JSON.stringify((e.endpoint as EnvoyJson).address))),
    ]),
  );
  assert.deepEqual(endpoints, {
    [v1]: [JSON.stringify({ socket_address: { address: "127.0.0.11", port_value: 7001 } })],
    [v2]: [JSON.stringify({ socket_address: { address: "127.0.0.12", port_value: 7002 } })],
  });
  // gRPC ignores localities without a weight.
  assert.ok(resources.endpoints.every((cla) => (cla.endpoints as EnvoyJson[]).every((l) => Number(l.load_balancing_weight) > 0)));

  // Everything is valid Envoy v3 (what the ADS server will encode).
  const all: [string, EnvoyJson[]][] = [[TypeUrl.listener, resources.listeners], [TypeUrl.route, resources.routes], [TypeUrl.cluster, resources.clusters], [TypeUrl.endpoint, resources.endpoints]];
  for (const [typeUrl, list] of all) for (const r of list) encodeAny({ "@type": typeUrl, ...r });
});

test("without a VirtualService the client gets the default route to the service's cluster", () => {
  const { resources } = translate(snapshot(MESH), client(["greeter.demo.svc.cluster.local:50051"]));
  const routes = ((resources.routes[0].virtual_hosts as EnvoyJson[])[0].routes as EnvoyJson[]);
  assert.equal(routes.length, 1);
  assert.equal((routes[0].route as EnvoyJson).cluster, `outbound|50051||${FQDN}`);
  assert.deepEqual(resources.clusters.map((c) => c.name), [`outbound|50051||${FQDN}`]);
  assert.equal(resources.endpoints[0].cluster_name, `outbound|50051||${FQDN}`);
});

test("a port-less target uses the service's only port; unknown hosts and ports are reported, not sent", () => {
  const { resources, problems } = translate(snapshot(MESH), client(["greeter", "nosuch:80", "greeter:1234"]));
  assert.deepEqual(resources.listeners.map((l) => l.name), ["greeter"]);
  assert.equal(problems.length, 2);
  assert.match(problems.map((p) => p.message).join("\n"), /listener "nosuch:80": no service nosuch\.demo\.svc\.cluster\.local/);
  assert.match(problems.map((p) => p.message).join("\n"), /listener "greeter:1234": service greeter\.demo\.svc\.cluster\.local has no port 1234 \(ports: 50051\)/);
});
