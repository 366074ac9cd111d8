// netns mode's pure planning: what a replica in its own namespace listens on, what its
// sidecar is told (capture, not INTERCEPTION_MODE NONE) and how it is registered.
import { test } from "node:test";
import assert from "node:assert/strict";
import { loadText, type Resource } from "../../src/api/index.ts";
import { netnsAppPorts, netnsSidecarBootstrap, planNetnsReplica, workloadEntryFor } from "../../src/runtime/index.ts";

function workload(yaml: string): Resource<"Workload"> {
  const { resources, diagnostics } = loadText(yaml, "/srv/mesh/mesh.yaml");
  assert.deepEqual(diagnostics.filter((d) => d.severity === "error"), []);
  return resources[0] as Resource<"Workload">;
}

const logic = workload(`
apiVersion: skiff.dev/v1alpha1
kind: Workload
metadata: { name: sa-logic, namespace: demo }
spec:
  command: ["node", "server.ts"]
  ports: [{ name: http, containerPort: 0 }, { name: metrics, containerPort: 8080 }, { name: admin, containerPort: 0 }]
  labels: { app: sa-logic, version: v1 }
  serviceAccount: sa-logic
`);

test("the app listens on its containerPorts; ports declared 0 get 8080 upward, skipping ports already declared", () => {
  assert.deepEqual(netnsAppPorts(logic), [8081, 8080, 8082]);
  const bare = workload(`
apiVersion: skiff.dev/v1alpha1
kind: Workload
metadata: { name: bare, namespace: demo }
spec: { command: ["sleep", "1"] }
`);
  assert.deepEqual(netnsAppPorts(bare), [8080]);
});

test("a replica with a sidecar: PORT without HTTP_PROXY, admin 15000, its WorkloadEntry at the namespace address with the app's real ports", () => {
  const plan = planNetnsReplica(logic, 0, true, "/srv/mesh", "198.18.0.7");
  assert.equal(plan.env.PORT, "8081");
  assert.equal(plan.env.PORT_METRICS, "8080");
  for (const key of ["HTTP_PROXY", "http_proxy", "NO_PROXY"]) assert.equal(plan.env[key], undefined, key);
  assert.deepEqual(plan.sidecar, { httpProxyPort: 0, adminPort: 15000, statsPort: 15090, mergePort: 15020 });
  const entry = workloadEntryFor(plan, true) as { spec: { address: string; ports: Record<string, number>; labels: Record<string, string> } };
  assert.equal(entry.spec.address, "198.18.0.7");
  assert.deepEqual(entry.spec.ports, { http: 8081, metrics: 8080, admin: 8082 });
  assert.equal(entry.spec.labels["security.istio.io/tlsMode"], "istio");
});

test("a replica without a sidecar has no sidecar plan and no tlsMode label", () => {
  const plan = planNetnsReplica(logic, 1, false, "/srv/mesh", "198.18.0.8");
  assert.equal(plan.sidecar, undefined);
  assert.equal(plan.name, "sa-logic-1");
  const entry = workloadEntryFor(plan, true) as { spec: { address: string; labels: Record<string, string> } };
  assert.equal(entry.spec.address, "198.18.0.8");
  assert.equal(entry.spec.labels["security.istio.io/tlsMode"], undefined);
});

test("the sidecar's bootstrap asks for capture: node address and INSTANCE_IPS the namespace's, app on 127.0.0.1, no INTERCEPTION_MODE NONE, admin on its address", () => {
  const plan = planNetnsReplica(logic, 0, true, "/srv/mesh", "198.18.0.7");
  const b = netnsSidecarBootstrap(plan, "198.18.0.1:41000") as {
    node: { id: string; metadata: Record<string, unknown> };
    admin: { address: { socket_address: { address: string; port_value: number } } };
    xds_address: string;
  };
  assert.equal(b.node.id, "sidecar~198.18.0.7~sa-logic-0.demo~demo.svc.cluster.local");
  assert.equal(b.node.metadata.INSTANCE_IPS, "198.18.0.7");
  assert.equal(b.node.metadata.APP_ADDRESS, "127.0.0.1");
  assert.equal(b.node.metadata.INTERCEPTION_MODE, undefined);
  assert.equal(b.node.metadata.HTTP_PROXY_PORT, undefined);
  assert.equal(b.node.metadata.APP_PORTS, undefined);
  assert.equal(b.node.metadata.WORKLOAD_NAME, "sa-logic");
  // Istio's fixed Prometheus ports: each replica has an address of its own.
  assert.equal(b.node.metadata.STATS_PORT, "15090");
  assert.equal(b.node.metadata.METRICS_MERGE_PORT, "15020");
  assert.deepEqual(b.admin.address.socket_address, { address: "198.18.0.7", port_value: 15000 });
  assert.equal(b.xds_address, "198.18.0.1:41000");
  assert.throws(() => netnsSidecarBootstrap(planNetnsReplica(logic, 0, false, "/srv/mesh", "198.18.0.7"), "x:1"), /no sidecar/);
});
