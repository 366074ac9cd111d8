// The ADS server against a real gRPC stream: subscriptions, versions and nonces,
// ACK/NACK, push order, debounced pushes, per-proxy failures and the debug endpoints.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import { adsServiceDefinition } from "../../../src/pilot/xds/grpc-service.ts";
import { AdsServer, MonitoringServer, type SnapshotProvider } from "../../../src/pilot/xds/index.ts";
import { TypeUrl, encodeMessage } from "../../../src/envoy/index.ts";
import { defaultMeshConfig, type EnvoyResources, type MeshSnapshot, type ProxyNode } from "../../../src/pilot/translate/types.ts";
import { AdsTestClient, type Response } from "./ads-client.ts";

/** A mesh the test edits: clusters with endpoint addresses. */
interface World {
  clusters: Record<string, string[]>;
  listenerPort: number;
  /** Proxies (by pod name) whose translation throws. */
  broken: Set<string>;
  /** Every proxy identity translation was asked for, in order. */
  seen: ProxyNode[];
}

function resourcesFor(world: World): EnvoyResources {
  const names = Object.keys(world.clusters).sort();
  return {
    clusters: names.map((name) => ({ name, type: "EDS", eds_cluster_config: { eds_config: { ads: {} }, service_name: name }, connect_timeout: "1s" })),
    endpoints: names.map((name) => ({
      cluster_name: name,
      endpoints: [{ lb_endpoints: world.clusters[name].map((address) => ({ endpoint: { address: { socket_address: { address, port_value: 8080 } } } })) }],
    })),
    listeners: [{ name: `0.0.0.0_${world.listenerPort}`, address: { socket_address: { address: "0.0.0.0", port_value: world.listenerPort } } }],
    routes: [{ name: String(world.listenerPort), virtual_hosts: [{ name: "all", domains: ["*"] }] }],
    secrets: [],
  };
}

async function setup(initial: Partial<World> = {}) {
  const world: World = { clusters: { a: ["10.0.0.1"], b: ["10.0.0.2"] }, listenerPort: 80, broken: new Set(), seen: [], ...initial };
  let version = 1;
  const listeners = new Set<() => void>();
  const snapshots: SnapshotProvider = {
    current: (): MeshSnapshot => ({ config: [], registry: { services: [], endpoints: new Map(), version }, mesh: defaultMeshConfig, version }),
    onChange: (l) => {
      listeners.add(l);
      return () => listeners.delete(l);
    },
  };
  const logs: string[] = [];
  const ads = new AdsServer({
    translate: (_snapshot, proxy: ProxyNode) => {
      world.seen.push(proxy);
      if (world.broken.has(proxy.podName)) throw new Error(`cannot translate for ${proxy.podName}`);
      return { resources: resourcesFor(world), problems: [] };
    },
    snapshots,
    debounce: { quietMs: 5, maxDelayMs: 50 },
    log: (level, message) => logs.push(`${level} ${message}`),
  });
  const port = await ads.start(0);
  const monitoring = new MonitoringServer({ ads });
  const monitoringPort = await monitoring.start(0);
  const clients: AdsTestClient[] = [];
  return {
    world,
    ads,
    port,
    logs,
    monitoringPort,
    change(edit: (w: World) => void) {
      edit(world);
      version++;
      for (const l of listeners) l();
    },
    client(pod = "app-1.default", metadata: Record<string, unknown> = {}) {
      const c = new AdsTestClient(port, { id: `sidecar~10.1.0.1~${pod}~default.svc.cluster.local`, metadata: { NAMESPACE: "default", ...metadata } });
      clients.push(c);
      return c;
    },
    async get(path: string) {
      const res = await fetch(`http://127.0.0.1:${monitoringPort}${path}`);
      return { status: res.status, text: await res.text() };
    },
    async close() {
      for (const c of clients) c.close();
      await monitoring.stop();
      await ads.stop();
    },
  };
}

const names = (r: Response): string[] => (r.resources ?? []).map((x) => String(x.name ?? x.cluster_name)).sort();

/** Subscribes like Envoy: CDS and LDS wildcard, then EDS and RDS by name, ACKing each. */
async function subscribeAll(c: AdsTestClient): Promise<Record<string, Response>> {
  c.request({ type_url: TypeUrl.cluster }, true);
  const cds = await c.next();
  c.ack(cds);
  c.request({ type_url: TypeUrl.endpoint, resource_names: ["a", "b"] });
  const eds = await c.next();
  c.ack(eds, ["a", "b"]);
  c.request({ type_url: TypeUrl.listener });
  const lds = await c.next();
  c.ack(lds);
  c.request({ type_url: TypeUrl.route, resource_names: ["80"] });
  const rds = await c.next();
  c.ack(rds, ["80"]);
  return { cds, eds, lds, rds };
}

test("wildcard CDS/LDS and named EDS/RDS are answered with what was asked, then ACKed to SYNCED", async (t) => {
  const env = await setup();
  t.after(() => env.close());
  const c = env.client();
  const { cds, eds, lds, rds } = await subscribeAll(c);
  assert.deepEqual(names(cds), ["a", "b"]);
  assert.equal(cds.resources?.[0]["@type"], TypeUrl.cluster);
  assert.deepEqual(names(eds), ["a", "b"]);
  assert.deepEqual(names(lds), ["0.0.0.0_80"]);
  assert.deepEqual(names(rds), ["80"]);
  assert.equal(new Set([cds.nonce, eds.nonce, lds.nonce, rds.nonce]).size, 4, "every response has its own nonce");

  // A subscription to one name gets only that name.
  c.request({ type_url: TypeUrl.endpoint, resource_names: ["a"], response_nonce: "", version_info: "" });
  assert.deepEqual(names(await c.next()), ["a"]);

  await waitFor(async () => JSON.parse((await env.get("/debug/syncz")).text)[0]?.types?.LDS?.state === "SYNCED");
  const syncz = JSON.parse((await env.get("/debug/syncz")).text);
  assert.equal(syncz.length, 1);
  assert.equal(syncz[0].proxy, "sidecar~10.1.0.1~app-1.default~default.svc.cluster.local");
  assert.equal(syncz[0].types.CDS.sentVersion, cds.version_info);
  assert.equal(syncz[0].types.LDS.state, "SYNCED");
  assert.deepEqual(syncz[0].types.RDS.subscribed, ["80"]);
});

test("a config change pushes only changed types, CDS before EDS before LDS before RDS; EDS sends only changed clusters", async (t) => {
  const env = await setup();
  t.after(() => env.close());
  const c = env.client();
  const before = await subscribeAll(c);

  env.change((w) => {
    w.clusters.a = ["10.0.0.9"]; // only EDS of "a" changes
  });
  const edsOnly = await c.next();
  assert.equal(edsOnly.type_url, TypeUrl.endpoint);
  assert.deepEqual(names(edsOnly), ["a"], "unchanged cluster b is not resent");
  assert.notEqual(edsOnly.version_info, before.eds.version_info);
  c.ack(edsOnly, ["a", "b"]);

  env.change((w) => {
    w.clusters.c = ["10.0.0.3"];
    w.listenerPort = 81;
  });
  const order: string[] = [];
  for (let i = 0; i < 3; i++) {
    const r = await c.next();
    order.push(r.type_url);
    c.ack(r, r.type_url === TypeUrl.endpoint ? ["a", "b"] : r.type_url === TypeUrl.route ? ["80"] : undefined);
  }
  // CDS (new cluster c), EDS in full after CDS (Envoy re-warms clusters), LDS (new port); RDS "80" is gone, nothing to send.
  assert.deepEqual(order, [TypeUrl.cluster, TypeUrl.endpoint, TypeUrl.listener]);

  const metrics = (await env.get("/metrics")).text;
  assert.match(metrics, /^pilot_xds 1$/m);
  assert.match(metrics, /^pilot_xds_pushes\{type="cds"\} 2$/m);
});

test("a subscription change sends what is newly requested", async (t) => {
  const env = await setup({ clusters: { a: ["10.0.0.1"], b: ["10.0.0.2"], c: ["10.0.0.3"] } });
  t.after(() => env.close());
  const c = env.client();
  c.request({ type_url: TypeUrl.endpoint, resource_names: ["a"] }, true);
  const first = await c.next();
  assert.deepEqual(names(first), ["a"]);
  c.ack(first, ["a", "c"]);
  const second = await c.next();
  assert.deepEqual(names(second), ["c"], "only the newly requested cluster's endpoints are news");
  c.ack(second, ["a", "c"]);
  await waitFor(async () => JSON.parse((await env.get("/debug/syncz")).text)[0].types.EDS.state === "SYNCED");
  const status = JSON.parse((await env.get("/debug/syncz")).text)[0].types.EDS;
  assert.deepEqual(status.subscribed, ["a", "c"]);
  assert.equal(status.resources, 2);
});

test("a NACK is recorded, keeps the previous version, and the rejected version is never re-pushed", async (t) => {
  const env = await setup();
  t.after(() => env.close());
  const c = env.client();
  const { cds } = await subscribeAll(c);

  env.change((w) => {
    w.clusters.bad = ["10.0.0.66"];
  });
  const rejected = await c.next();
  assert.equal(rejected.type_url, TypeUrl.cluster);
  c.nack(rejected, cds.version_info ?? "", "cluster bad: unsupported field");
  // EDS follows the CDS push; answer it so the stream is quiet.
  const eds = await c.next();
  assert.equal(eds.type_url, TypeUrl.endpoint);
  c.ack(eds, ["a", "b"]);

  await waitFor(async () => JSON.parse((await env.get("/debug/syncz")).text)[0].types.CDS.lastNack !== undefined);
  const status = JSON.parse((await env.get("/debug/syncz")).text)[0].types.CDS;
  assert.equal(status.state, "STALE");
  assert.equal(status.ackedVersion, cds.version_info);
  assert.equal(status.lastNack.version, rejected.version_info);
  assert.equal(status.lastNack.message, "cluster bad: unsupported field");
  assert.match((await env.get("/metrics")).text, /^pilot_total_xds_rejects\{type="cds"\} 1$/m);
  assert.ok(env.logs.some((l) => l.includes("rejected (NACK): cluster bad: unsupported field")));
  // config_dump shows what the proxy still runs: the previous clusters.
  const dump = JSON.parse((await env.get("/debug/config_dump?proxyID=app-1.default")).text);
  assert.deepEqual(dump.configs[0].dynamic_active_clusters.map((x: { cluster: { name: string } }) => x.cluster.name), ["a", "b"]);
  // ...in the shape of Envoy's own admin config_dump (it encodes as envoy.admin.v3.ConfigDump).
  assert.ok(encodeMessage("envoy.admin.v3.ConfigDump", dump).length > 0);

  // Pushes with the same (rejected) config send nothing; the next real change goes out.
  env.ads.pushAll();
  env.change(() => {});
  env.change((w) => {
    delete w.clusters.bad;
    w.clusters.good = ["10.0.0.7"];
  });
  const next = await c.next();
  assert.equal(next.type_url, TypeUrl.cluster);
  assert.notEqual(next.version_info, rejected.version_info);
  assert.deepEqual(names(next), ["a", "b", "good"]);
});

test("one proxy's failing translation is reported and does not stop the others", async (t) => {
  const env = await setup();
  t.after(() => env.close());
  const good = env.client("good.default");
  const bad = env.client("bad.default");
  await subscribeAll(good);
  await subscribeAll(bad);
  env.change((w) => {
    w.broken.add("bad.default");
    w.clusters.a = ["10.0.0.5"];
  });
  const pushed = await good.next();
  assert.deepEqual(names(pushed), ["a"]);
  const problems = JSON.parse((await env.get("/debug/translation_problems")).text);
  assert.equal(problems.length, 1);
  assert.equal(problems[0].proxy, "sidecar~10.1.0.1~bad.default~default.svc.cluster.local");
  assert.match(problems[0].problems[0].message, /translation failed, last good config kept: cannot translate for bad.default/);
  // The broken proxy keeps its config: config_dump still lists its clusters.
  const dump = JSON.parse((await env.get("/debug/config_dump?proxyID=bad.default")).text);
  assert.equal(dump.configs[0].dynamic_active_clusters.length, 2);
});

test("a node id not in Istio's form is refused with a message naming the form; delta xDS is UNIMPLEMENTED", async (t) => {
  const env = await setup();
  t.after(() => env.close());
  const c = new AdsTestClient(env.port, { id: "just-a-name" });
  t.after(() => c.close());
  c.request({ type_url: TypeUrl.cluster }, true);
  await assert.rejects(c.next(), (err: grpc.ServiceError) => err.code === grpc.status.INVALID_ARGUMENT && /"just-a-name" is not in Istio's form TYPE~IP~NAME\.NAMESPACE/.test(err.details));
  const missing = await env.get("/debug/config_dump?proxyID=nope");
  assert.equal(missing.status, 404);

  const Client = grpc.makeGenericClientConstructor(adsServiceDefinition(), "AggregatedDiscoveryService");
  const client = new Client(`127.0.0.1:${env.port}`, grpc.credentials.createInsecure());
  t.after(() => client.close());
  const delta = (client as unknown as Record<string, () => grpc.ClientDuplexStream<unknown, unknown>>).DeltaAggregatedResources.call(client);
  const err = await new Promise<grpc.ServiceError>((resolve) => delta.on("error", resolve));
  assert.equal(err.code, grpc.status.UNIMPLEMENTED);
  assert.match(err.details, /state-of-the-world/);
});

async function waitFor(check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error("condition not met in time");
}

test("a named LDS subscription makes a client proxyless and its listener names reach translation", async (t) => {
  const env = await setup();
  t.after(() => env.close());
  const c = env.client("grpc-client.default");
  c.request({ type_url: TypeUrl.listener, resource_names: ["0.0.0.0_80", "nosuch:1"] }, true);
  const lds = await c.next();
  assert.deepEqual(names(lds), ["0.0.0.0_80"], "only the existing requested listener");
  const last = env.world.seen[env.world.seen.length - 1];
  assert.equal(last.type, "proxyless");
  assert.deepEqual(last.requestedListeners, ["0.0.0.0_80", "nosuch:1"]);
  c.ack(lds, ["nosuch:1"]);
  const narrowed = await c.next();
  assert.deepEqual(names(narrowed), [], "LDS answers the new subscription in full: the dropped listener is gone");
  assert.deepEqual(env.world.seen[env.world.seen.length - 1].requestedListeners, ["nosuch:1"]);
  await waitFor(async () => JSON.parse((await env.get("/debug/syncz")).text)[0]?.type === "proxyless");
});
