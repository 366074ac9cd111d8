import { test } from "node:test";
import assert from "node:assert/strict";
import { allocateVips, buildRegistry, endpointKey } from "../../src/registry/index.ts";
import type { Endpoint, RegistrySnapshot } from "../../src/registry/index.ts";
import type { AnyResource, KubeServiceSpec, ServiceEntrySpec, WorkloadEntrySpec } from "../../src/api/index.ts";

const DOMAIN = { domain: "cluster.local" };

function service(name: string, namespace: string, spec: KubeServiceSpec, annotations?: Record<string, string>): AnyResource {
  return { apiVersion: "v1", kind: "Service", metadata: { name, namespace, ...(annotations ? { annotations } : {}) }, spec };
}
function entry(name: string, namespace: string, spec: WorkloadEntrySpec, meta: { labels?: Record<string, string>; annotations?: Record<string, string> } = {}): AnyResource {
  return { apiVersion: "networking.istio.io/v1", kind: "WorkloadEntry", metadata: { name, namespace, ...meta }, spec };
}
function serviceEntry(name: string, namespace: string, spec: ServiceEntrySpec): AnyResource {
  return { apiVersion: "networking.istio.io/v1", kind: "ServiceEntry", metadata: { name, namespace }, spec };
}
function eps(snap: RegistrySnapshot, host: string, port: number): readonly Endpoint[] {
  return snap.endpoints.get(endpointKey(host, port)) ?? [];
}

const logic = service("sa-logic", "demo", {
  selector: { app: "sa-logic" },
  ports: [
    { name: "http", port: 80, targetPort: "web" },
    { name: "grpc-api", port: 9000, targetPort: 9001 },
    { name: "metrics", port: 9090 },
    { name: "admin", port: 7000 },
    { name: "tcp-debug", port: 7100, targetPort: "debug" },
    { name: "dns", port: 53, protocol: "UDP" },
  ],
});
const v1 = entry("sa-logic-v1", "demo", {
  address: "10.0.0.10",
  ports: { web: 5000, metrics: 5090, "grpc-api": 5901, debug: 5100 },
  labels: { app: "sa-logic", version: "v1" },
  serviceAccount: "logic",
  locality: "eu/west/a",
  weight: 3,
  network: "net1",
});
const v2 = entry("sa-logic-v2", "demo", { address: "10.0.0.9", ports: { web: 6000 }, labels: { app: "sa-logic", version: "v2", "security.istio.io/tlsMode": "istio" } });
const otherNs = entry("sa-logic-elsewhere", "other", { address: "10.9.9.9", labels: { app: "sa-logic" } });
const otherApp = entry("frontend", "demo", { address: "10.0.0.20", labels: { app: "frontend" } });

test("a Kubernetes Service becomes a MeshService with its FQDN, ports and protocols", () => {
  const snap = buildRegistry([logic], DOMAIN);
  assert.equal(snap.services.length, 1);
  const svc = snap.services[0];
  assert.equal(svc.hostname, "sa-logic.demo.svc.cluster.local");
  assert.equal(svc.name, "sa-logic");
  assert.equal(svc.namespace, "demo");
  assert.equal(svc.resolution, "ClientSideLB");
  assert.equal(svc.meshExternal, false);
  assert.deepEqual(svc.exportTo, ["*"]);
  assert.equal(svc.origin, "Service/demo/sa-logic");
  assert.deepEqual(
    svc.ports.map((p) => [p.name, p.port, p.protocol, p.targetPort]),
    [
      ["http", 80, "HTTP", "web"],
      ["grpc-api", 9000, "GRPC", 9001],
      ["metrics", 9090, "Unsupported", undefined],
      ["admin", 7000, "Unsupported", undefined],
      ["tcp-debug", 7100, "TCP", "debug"],
      ["dns", 53, "UDP", undefined],
    ],
  );
  assert.equal(buildRegistry([logic], { domain: "mesh.test" }).services[0].hostname, "sa-logic.demo.svc.mesh.test");
});

test("a Service selects WorkloadEntries of its namespace by labels, resolving target ports", () => {
  const snap = buildRegistry([logic, v1, v2, otherNs, otherApp], DOMAIN);
  const host = "sa-logic.demo.svc.cluster.local";
  // targetPort by name → the entry's `ports` map; sorted by address (10.0.0.9 before 10.0.0.10).
  assert.deepEqual(eps(snap, host, 80).map((e) => [e.workloadName, e.address, e.port]), [["sa-logic-v2", "10.0.0.9", 6000], ["sa-logic-v1", "10.0.0.10", 5000]]);
  // numeric targetPort: the entry's port named like the service port wins, else the number
  assert.deepEqual(eps(snap, host, 9000).map((e) => [e.workloadName, e.port]), [["sa-logic-v2", 9001], ["sa-logic-v1", 5901]]);
  // no targetPort: the entry's port named like the service port, else the service port
  assert.deepEqual(eps(snap, host, 9090).map((e) => [e.workloadName, e.port]), [["sa-logic-v2", 9090], ["sa-logic-v1", 5090]]);
  assert.deepEqual(eps(snap, host, 7000).map((e) => e.port), [7000, 7000]);
  // a named targetPort the entry does not have: that entry is no endpoint of the port
  assert.deepEqual(eps(snap, host, 7100).map((e) => [e.workloadName, e.port]), [["sa-logic-v1", 5100]]);
  // UDP ports get no WorkloadEntry endpoints (the proxy does not carry UDP)
  assert.deepEqual(eps(snap, host, 53), []);

  const [second, first] = eps(snap, host, 80);
  assert.deepEqual(first.labels, { app: "sa-logic", version: "v1" });
  assert.equal(first.serviceAccount, "logic");
  assert.equal(first.locality, "eu/west/a");
  assert.equal(first.weight, 3);
  assert.equal(first.network, "net1");
  assert.equal(first.tlsMode, "disabled");
  assert.equal(first.healthy, true);
  assert.equal(first.namespace, "demo");
  assert.equal(first.servicePortName, "http");
  assert.equal(second.serviceAccount, "default", "service account defaults to `default`");
  assert.equal(second.weight, 1, "weight defaults to 1");
  assert.equal(second.tlsMode, "istio", "security.istio.io/tlsMode: istio marks a sidecar");
  assert.deepEqual(snap.services[0].serviceAccounts, ["default", "logic"]);
});

test("selection uses spec labels; skiff.dev/health: unhealthy (label or annotation) marks an endpoint down", () => {
  const metaOnly = entry("meta-only", "demo", { address: "10.0.0.1" }, { labels: { app: "sa-logic" } });
  const up = entry("up", "demo", { address: "10.0.0.2", labels: { app: "sa-logic" } });
  const downBySpecLabel = entry("d1", "demo", { address: "10.0.0.3", labels: { app: "sa-logic", "skiff.dev/health": "unhealthy" } });
  const downByMetaLabel = entry("d2", "demo", { address: "10.0.0.4", labels: { app: "sa-logic" } }, { labels: { "skiff.dev/health": "unhealthy" } });
  const downByAnnotation = entry("d3", "demo", { address: "10.0.0.5", labels: { app: "sa-logic" } }, { annotations: { "skiff.dev/health": "unhealthy" } });
  const snap = buildRegistry([logic, metaOnly, up, downBySpecLabel, downByMetaLabel, downByAnnotation], DOMAIN);
  assert.deepEqual(eps(snap, "sa-logic.demo.svc.cluster.local", 7000).map((e) => [e.workloadName, e.healthy]), [
    ["up", true],
    ["d1", false],
    ["d2", false],
    ["d3", false],
  ]);
});

test("workload name and locality follow Istio's labels; hostname addresses only serve DNS ServiceEntries", () => {
  const replica = entry("sa-logic-0", "demo", { address: "10.0.0.1", labels: { app: "sa-logic", "istio-locality": "eu.west.b" } }, { labels: { "service.istio.io/workload-name": "sa-logic" } });
  const runtimeReplica = entry("sa-logic-1", "demo", { address: "10.0.0.2", labels: { app: "other" } }, { annotations: { "skiff.dev/workload": "other" } });
  const byHostname = entry("vm-dns", "demo", { address: "vm.example.internal", labels: { app: "sa-logic" } });
  const dnsEntry = serviceEntry("dns", "demo", { hosts: ["vms.internal"], resolution: "DNS", location: "MESH_INTERNAL", ports: [{ number: 80, name: "http", protocol: "HTTP" }], workloadSelector: { labels: { app: "sa-logic" } } });
  const staticEntry = serviceEntry("static", "demo", { hosts: ["static.internal"], resolution: "STATIC", location: "MESH_INTERNAL", ports: [{ number: 80, name: "http", protocol: "HTTP" }], workloadSelector: { labels: { app: "sa-logic" } } });
  const snap = buildRegistry([logic, replica, runtimeReplica, byHostname, dnsEntry, staticEntry], DOMAIN);
  const otherService = service("other", "demo", { selector: { app: "other" }, ports: [{ name: "http", port: 80 }] });
  assert.equal(eps(buildRegistry([otherService, runtimeReplica], DOMAIN), "other.demo.svc.cluster.local", 80)[0].workloadName, "other");
  const [first] = eps(snap, "sa-logic.demo.svc.cluster.local", 7000);
  assert.equal(first.workloadName, "sa-logic");
  assert.equal(first.locality, "eu/west/b");
  assert.deepEqual(eps(snap, "sa-logic.demo.svc.cluster.local", 7000).map((e) => e.address), ["10.0.0.1"]);
  assert.deepEqual(eps(snap, "static.internal", 80).map((e) => e.address), ["10.0.0.1"]);
  assert.deepEqual(eps(snap, "vms.internal", 80).map((e) => e.address), ["10.0.0.1", "vm.example.internal"]);
});

test("a Service without selector has no endpoints; headless and ExternalName services", () => {
  const bare = service("bare", "demo", { ports: [{ name: "http", port: 80 }] });
  const headless = service("db", "demo", { clusterIP: "None", selector: { app: "sa-logic" }, ports: [{ name: "tcp", port: 5432 }] });
  const ext = service("ext", "demo", { type: "ExternalName", externalName: "api.example.com", ports: [{ name: "https", port: 443 }] });
  const snap = buildRegistry([bare, headless, ext, v1], DOMAIN);
  assert.deepEqual(eps(snap, "bare.demo.svc.cluster.local", 80), []);
  const db = snap.services.find((s) => s.name === "db")!;
  assert.equal(db.resolution, "Passthrough");
  assert.deepEqual(db.addresses, [], "a headless service gets no virtual IP");
  assert.deepEqual(eps(snap, "db.demo.svc.cluster.local", 5432).map((e) => e.address), ["10.0.0.10"]);
  const e = snap.services.find((s) => s.name === "ext")!;
  assert.equal(e.resolution, "DNSLB");
  assert.equal(e.meshExternal, true);
  assert.deepEqual(eps(snap, "ext.demo.svc.cluster.local", 443).map((x) => [x.address, x.port]), [["api.example.com", 443]]);
});

test("cluster IPs are kept; services without one get a stable VIP in 240.240.0.0/16, independent of order", () => {
  const withIp = service("a", "demo", { clusterIP: "10.96.0.10", ports: [{ name: "http", port: 80 }] });
  const noIp = service("b", "demo", { ports: [{ name: "http", port: 80 }] });
  const noIp2 = service("c", "demo", { ports: [{ name: "http", port: 80 }] });
  const snap1 = buildRegistry([withIp, noIp, noIp2], DOMAIN);
  const snap2 = buildRegistry([noIp2, noIp, withIp], DOMAIN);
  const ips = (s: RegistrySnapshot) => Object.fromEntries(s.services.map((x) => [x.name, x.addresses]));
  assert.deepEqual(ips(snap1).a, ["10.96.0.10"]);
  assert.match(ips(snap1).b[0], /^240\.240\.\d+\.\d+$/);
  assert.notEqual(ips(snap1).b[0], ips(snap1).c[0]);
  assert.deepEqual(ips(snap1), ips(snap2));
  // Stable across unrelated additions: b keeps its address when a service is added.
  const snap3 = buildRegistry([withIp, noIp, service("zzz", "demo", { ports: [{ name: "http", port: 80 }] })], DOMAIN);
  assert.deepEqual(ips(snap3).b, ips(snap1).b);
});

test("VIP collisions resolve deterministically and never reuse a taken address", () => {
  const hosts = Array.from({ length: 3000 }, (_, i) => `svc-${i}.demo.svc.cluster.local`);
  const forward = allocateVips(hosts);
  const backward = allocateVips([...hosts].reverse());
  assert.deepEqual([...forward].sort(), [...backward].sort());
  const addresses = [...forward.values()];
  assert.equal(new Set(addresses).size, hosts.length, "every host has its own address");
  for (const ip of addresses) assert.match(ip, /^240\.240\.\d+\.([1-9]|[1-9]\d|1\d\d|2[0-4]\d|25[0-4])$/);
  const taken = forward.get(hosts[0])!;
  assert.notEqual(allocateVips([hosts[0]], [taken]).get(hosts[0]), taken);
});

test("ServiceEntry: every resolution, hosts, addresses, location, exportTo and inline endpoints", () => {
  const resolutions = [
    ["NONE", "Passthrough"],
    ["STATIC", "ClientSideLB"],
    ["DNS", "DNSLB"],
    ["DNS_ROUND_ROBIN", "DNSRoundRobinLB"],
  ] as const;
  for (const [resolution, expected] of resolutions) {
    const snap = buildRegistry([serviceEntry("se", "ns", { hosts: ["x.example.com"], resolution, ports: [{ number: 80, name: "http", protocol: "HTTP" }] })], DOMAIN);
    assert.equal(snap.services[0].resolution, expected, resolution);
  }
  const se = serviceEntry("ext", "ns", {
    hosts: ["a.example.com", "b.example.com"],
    addresses: ["192.0.2.1"],
    location: "MESH_INTERNAL",
    resolution: "STATIC",
    exportTo: [".", "other"],
    ports: [
      { number: 80, name: "http", protocol: "HTTP", targetPort: 8080 },
      { number: 27017, name: "mongo", protocol: "MONGO" },
    ],
    endpoints: [
      { address: "192.0.2.10", ports: { mongo: 27018 }, labels: { version: "v1" }, locality: "us/east", weight: 2, serviceAccount: "vm" },
      { address: "192.0.2.11" },
    ],
  });
  const snap = buildRegistry([se], DOMAIN);
  assert.deepEqual(snap.services.map((s) => s.hostname), ["a.example.com", "b.example.com"]);
  const a = snap.services[0];
  assert.deepEqual(a.addresses, ["192.0.2.1"]);
  assert.equal(a.meshExternal, false);
  assert.deepEqual(a.exportTo, ["ns", "other"]);
  assert.equal(a.origin, "ServiceEntry/ns/ext");
  assert.deepEqual(a.ports.map((p) => p.protocol), ["HTTP", "Mongo"]);
  assert.deepEqual(eps(snap, "a.example.com", 80).map((e) => [e.address, e.port]), [["192.0.2.10", 8080], ["192.0.2.11", 8080]]);
  assert.deepEqual(eps(snap, "b.example.com", 27017).map((e) => [e.address, e.port, e.weight, e.locality, e.serviceAccount]), [
    ["192.0.2.10", 27018, 2, "us/east", "vm"],
    ["192.0.2.11", 27017, 1, "", "default"],
  ]);
  const external = buildRegistry([serviceEntry("e", "ns", { hosts: ["e.example.com"], resolution: "DNS", ports: [{ number: 443, name: "tls", protocol: "TLS" }] })], DOMAIN);
  assert.equal(external.services[0].meshExternal, true, "MESH_EXTERNAL is the default location");
  assert.deepEqual(eps(external, "e.example.com", 443).map((e) => [e.address, e.port]), [["e.example.com", 443]], "DNS without endpoints resolves the host");
});

test("ServiceEntry VIPs: allocated for non-wildcard, non-NONE entries without addresses only", () => {
  const snap = buildRegistry([
    serviceEntry("dns", "ns", { hosts: ["dns.example.com", "*.wild.example.com"], resolution: "DNS", ports: [{ number: 80, name: "http", protocol: "HTTP" }] }),
    serviceEntry("none", "ns", { hosts: ["none.example.com"], resolution: "NONE", ports: [{ number: 80, name: "http", protocol: "HTTP" }] }),
  ], DOMAIN);
  const addr = Object.fromEntries(snap.services.map((s) => [s.hostname, s.addresses]));
  assert.match(addr["dns.example.com"][0], /^240\.240\./);
  assert.deepEqual(addr["*.wild.example.com"], []);
  assert.deepEqual(addr["none.example.com"], []);
});

test("ServiceEntry workloadSelector selects WorkloadEntries of its namespace", () => {
  const se = serviceEntry("vms", "demo", {
    hosts: ["vm.demo.internal"],
    location: "MESH_INTERNAL",
    resolution: "STATIC",
    ports: [{ number: 80, name: "web", protocol: "HTTP" }],
    workloadSelector: { labels: { app: "sa-logic" } },
  });
  const snap = buildRegistry([se, v1, v2, otherNs, otherApp], DOMAIN);
  // v2's ports map has `web`; v1's does too: the port named like the ServiceEntry port.
  assert.deepEqual(eps(snap, "vm.demo.internal", 80).map((e) => [e.workloadName, e.port, e.tlsMode]), [["sa-logic-v2", 6000, "istio"], ["sa-logic-v1", 5000, "disabled"]]);
  assert.deepEqual(snap.services[0].serviceAccounts, ["default", "logic"]);
});

test("the snapshot is deterministic: the same resources in any order give equal snapshots", () => {
  const all = [logic, v1, v2, otherNs, otherApp, serviceEntry("x", "demo", { hosts: ["x.example.com"], resolution: "DNS", ports: [{ number: 80, name: "http", protocol: "HTTP" }] })];
  const a = buildRegistry(all, { domain: "cluster.local", version: 7 });
  const b = buildRegistry([...all].reverse(), { domain: "cluster.local", version: 7 });
  assert.deepEqual(a, b);
  assert.equal(a.version, 7);
  assert.deepEqual(a.services.map((s) => s.hostname), ["sa-logic.demo.svc.cluster.local", "x.example.com"]);
});

test("exportTo annotation on a Kubernetes Service", () => {
  const snap = buildRegistry([service("s", "demo", { ports: [] }, { "networking.istio.io/exportTo": ".,istio-system" })], DOMAIN);
  assert.deepEqual(snap.services[0].exportTo, ["demo", "istio-system"]);
});
