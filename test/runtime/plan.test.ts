import { test } from "node:test";
import assert from "node:assert/strict";
import { loadText, type Resource } from "../../src/api/index.ts";
import { assignPorts, injectionEnabled, planReplica, portsNeeded, probePort, sidecarBootstrap, workloadEntryFor } from "../../src/runtime/index.ts";

function workload(yaml: string, file = "/srv/mesh/mesh.yaml"): Resource<"Workload"> {
  const { resources, diagnostics } = loadText(yaml, file);
  assert.deepEqual(diagnostics.filter((d) => d.severity === "error"), []);
  return resources[0] as Resource<"Workload">;
}

const logic = workload(`
apiVersion: skiff.dev/v1alpha1
kind: Workload
metadata: { name: sa-logic-v1, namespace: demo }
spec:
  command: ["node", "./sa-logic/server.ts"]
  args: ["--verbose"]
  workingDir: apps
  env: { VERSION: v1, PORT: "9999" }
  ports: [{ name: http, containerPort: 5000 }, { name: metrics, containerPort: 9100 }]
  labels: { app: sa-logic, version: v1 }
  serviceAccount: sa-logic
  replicas: 2
`);

test("a sidecar replica needs app ports, as many inbound ports, an HTTP proxy port, an admin port and the stats and merge ports", () => {
  assert.equal(portsNeeded(logic, true), 8);
  assert.equal(portsNeeded(logic, false), 2);
  assert.deepEqual(assignPorts(logic, true, [1, 2, 3, 4, 5, 6, 7, 8]), { app: [1, 2], sidecar: { inbound: [3, 4], httpProxy: 5, admin: 6, stats: 7, merge: 8 } });
  assert.throws(() => assignPorts(logic, true, [1, 2]), /needs 8 ports/);
});

test("replica plan: paths resolve against the mesh file, PORT and HTTP_PROXY are set, user env wins", () => {
  const plan = planReplica(logic, 1, assignPorts(logic, true, [101, 102, 201, 202, 300, 400, 501, 502]), "/srv/mesh");
  assert.equal(plan.name, "sa-logic-v1-1");
  assert.equal(plan.command, "node"); // a bare name is looked up in PATH
  assert.deepEqual(plan.args, ["./sa-logic/server.ts", "--verbose"]);
  assert.equal(plan.cwd, "/srv/mesh/apps");
  assert.equal(plan.env.PORT, "9999"); // the Workload's own env overrides the runtime's
  assert.equal(plan.env.PORT_HTTP, "101");
  assert.equal(plan.env.PORT_METRICS, "102");
  assert.equal(plan.env.HTTP_PROXY, "http://127.0.0.1:300");
  assert.equal(plan.env.NO_PROXY, "localhost,127.0.0.1");
  assert.equal(plan.env.VERSION, "v1");
  assert.deepEqual(plan.sidecar, { httpProxyPort: 300, adminPort: 400, statsPort: 501, mergePort: 502 });
  assert.equal(plan.serviceAccount, "sa-logic");
});

test("a relative program path resolves against the mesh file's directory; workingDir defaults to it", () => {
  const w = workload(`
apiVersion: skiff.dev/v1alpha1
kind: Workload
metadata: { name: legacy, namespace: old }
spec:
  command: ["bin/serve.sh"]
`);
  const plan = planReplica(w, 0, assignPorts(w, false, [7000]), "/srv/mesh");
  assert.equal(plan.command, "/srv/mesh/bin/serve.sh");
  assert.equal(plan.cwd, "/srv/mesh");
  assert.equal(plan.env.PORT, "7000");
  assert.equal(plan.env.HTTP_PROXY, undefined);
  assert.equal(plan.sidecar, undefined);
});

test("WorkloadEntry: named ports point at the sidecar, tlsMode label, unhealthy while not ready", () => {
  const plan = planReplica(logic, 0, assignPorts(logic, true, [101, 102, 201, 202, 300, 400, 501, 502]), "/srv/mesh");
  const ready = workloadEntryFor(plan, true);
  assert.equal(ready.kind, "WorkloadEntry");
  assert.equal(ready.metadata.name, "sa-logic-v1-0");
  assert.equal(ready.metadata.namespace, "demo");
  assert.deepEqual(ready.spec, {
    address: "127.0.0.1",
    ports: { http: 201, metrics: 202 },
    labels: { app: "sa-logic", version: "v1", "security.istio.io/tlsMode": "istio" },
    serviceAccount: "sa-logic",
  });
  assert.equal(ready.metadata.annotations, undefined);
  assert.equal(workloadEntryFor(plan, false).metadata.annotations?.["skiff.dev/health"], "unhealthy");

  const bare = planReplica(logic, 0, assignPorts(logic, false, [101, 102]), "/srv/mesh");
  const entry = workloadEntryFor(bare, true);
  assert.deepEqual((entry.spec as { ports: unknown }).ports, { http: 101, metrics: 102 });
  assert.equal((entry.spec as { labels: Record<string, string> }).labels["security.istio.io/tlsMode"], undefined);
});

test("probe ports resolve by name or by the Workload's containerPort", () => {
  const plan = planReplica(logic, 0, assignPorts(logic, true, [101, 102, 201, 202, 300, 400, 501, 502]), "/srv/mesh");
  assert.equal(probePort(plan, "metrics"), 102);
  assert.equal(probePort(plan, 5000), 101);
  assert.equal(probePort(plan, "nope"), undefined);
});

test("sidecar bootstrap: Istio node id, process-mode metadata, the xDS address", () => {
  const plan = planReplica(logic, 0, assignPorts(logic, true, [101, 102, 201, 202, 300, 400, 501, 502]), "/srv/mesh");
  const b = sidecarBootstrap(plan, "127.0.0.1:15010") as { node: { id: string; metadata: Record<string, unknown> }; admin: unknown; xds_address: string };
  assert.equal(b.node.id, "sidecar~127.0.0.1~sa-logic-v1-0.demo~demo.svc.cluster.local");
  assert.equal(b.xds_address, "127.0.0.1:15010");
  assert.deepEqual(b.admin, { address: { socket_address: { address: "127.0.0.1", port_value: 400 } } });
  const md = b.node.metadata;
  assert.equal(md.INTERCEPTION_MODE, "NONE");
  assert.equal(md.HTTP_PROXY_PORT, "300");
  assert.deepEqual(md.APP_PORTS, { "201": 101, "202": 102 });
  assert.deepEqual(md.LABELS, { app: "sa-logic", version: "v1" });
  assert.equal(md.NAMESPACE, "demo");
  assert.equal(md.SERVICE_ACCOUNT, "sa-logic");
  assert.equal(md.WORKLOAD_NAME, "sa-logic-v1");
  // Istio's 15090 and 15020, allocated per replica in process mode; no annotations, so no app metrics to merge.
  assert.equal(md.STATS_PORT, "501");
  assert.equal(md.METRICS_MERGE_PORT, "502");
  assert.equal(md.PROMETHEUS_ANNOTATIONS, undefined);
});

function annotated(annotations: string): Resource<"Workload"> {
  return workload(`
apiVersion: skiff.dev/v1alpha1
kind: Workload
metadata: { name: sa-logic, namespace: demo, annotations: { ${annotations} } }
spec:
  command: ["node", "server.ts"]
  ports: [{ name: http, containerPort: 0 }, { name: metrics, containerPort: 9100 }]
`);
}

test("prometheus.io annotations: the app's metrics endpoint the sidecar merges into 15020, the port by name or number", () => {
  const ports = [101, 102, 201, 202, 300, 400, 501, 502];
  const md = (annotations: string) => {
    const w = annotated(annotations);
    return (sidecarBootstrap(planReplica(w, 0, assignPorts(w, true, ports), "/srv"), "127.0.0.1:15010") as { node: { metadata: Record<string, unknown> } }).node.metadata.PROMETHEUS_ANNOTATIONS;
  };
  const want = (port: string, path: string) => ({ "prometheus.io/scrape": "true", "prometheus.io/port": port, "prometheus.io/path": path });
  // By name, to the port the app really listens on (the runtime assigned it).
  assert.deepEqual(md(`prometheus.io/scrape: "true", prometheus.io/port: metrics, prometheus.io/path: /stats`), want("102", "/stats"));
  // By the declared containerPort; the path defaults to /metrics.
  assert.deepEqual(md(`prometheus.io/scrape: "true", prometheus.io/port: "9100"`), want("102", "/metrics"));
  // No port: the first app port.
  assert.deepEqual(md(`prometheus.io/scrape: "true"`), want("101", "/metrics"));
  // Not asked to be scraped: nothing merged.
  assert.equal(md(`prometheus.io/scrape: "false", prometheus.io/port: metrics`), undefined);
  assert.equal(md(`prometheus.io/port: metrics`), undefined);
});

test("sidecars only in namespaces labelled istio-injection: enabled", () => {
  const { resources } = loadText(
    `apiVersion: v1
kind: Namespace
metadata: { name: demo, labels: { istio-injection: enabled } }
---
apiVersion: v1
kind: Namespace
metadata: { name: legacy, labels: { istio-injection: disabled } }
`,
    "ns.yaml",
  );
  const namespaces = resources as Resource<"Namespace">[];
  assert.equal(injectionEnabled(namespaces, "demo"), true);
  assert.equal(injectionEnabled(namespaces, "legacy"), false);
  assert.equal(injectionEnabled(namespaces, "default"), false);
});

test("a Service with a numeric targetPort reaches the replica through an entry port named like the service port", () => {
  const w = workload(`
apiVersion: skiff.dev/v1alpha1
kind: Workload
metadata: { name: web, namespace: demo }
spec:
  command: ["node", "web.js"]
  ports: [{ containerPort: 8080 }, { name: admin, containerPort: 9090 }]
  labels: { app: web }
`);
  const { resources } = loadText(
    `apiVersion: v1
kind: Service
metadata: { name: web, namespace: demo }
spec:
  selector: { app: web }
  ports: [{ name: http-web, port: 80, targetPort: 8080 }, { name: http-admin, port: 9090 }]
---
apiVersion: v1
kind: Service
metadata: { name: other, namespace: demo }
spec:
  selector: { app: other }
  ports: [{ name: http-other, port: 80, targetPort: 8080 }]
`,
    "svc.yaml",
  );
  const plan = planReplica(w, 0, assignPorts(w, true, [101, 102, 201, 202, 300, 400, 501, 502]), "/srv");
  const entry = workloadEntryFor(plan, true, resources as Resource<"Service">[]);
  assert.deepEqual((entry.spec as { ports: unknown }).ports, { admin: 202, "http-web": 201, "http-admin": 202 });
});
