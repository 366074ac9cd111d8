// Sharing between proxies of one scope, over a real control plane and real ADS streams:
// two sidecars of one namespace get byte-identical route configurations, clusters and
// endpoints from ONE translation of their scope; a proxy in another namespace or one a
// DestinationRule's workloadSelector picks out gets its own; a VirtualService change
// sends RDS only and an endpoint change EDS only, each translated once per scope.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { ControlPlane } from "../../../src/pilot/index.ts";
import { TypeUrl, encodeMessage, protoRoot } from "../../../src/envoy/index.ts";
import { meshYaml, serviceYaml, versionSubsetsYaml, workloadEntryYaml } from "../helpers/mesh-yaml.ts";

const MESH = `
apiVersion: v1
kind: Namespace
metadata: { name: other }
---
${meshYaml(
  serviceYaml({ name: "reviews", namespace: "default", port: 9080 }),
  serviceYaml({ name: "ratings", namespace: "default", port: 9080 }),
  workloadEntryYaml("reviews-v1", "default", "{ address: 10.9.0.1, labels: { app: reviews, version: v1 }, serviceAccount: reviews }"),
  workloadEntryYaml("ratings-v1", "default", "{ address: 10.9.0.2, labels: { app: ratings, version: v1 }, serviceAccount: ratings }"),
  versionSubsetsYaml("reviews", "default", ["v1", "v2"]),
)}---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: ratings-for-canary, namespace: default }
spec:
  host: ratings
  workloadSelector: { matchLabels: { track: canary } }
  trafficPolicy: { loadBalancer: { simple: RANDOM } }
`;

const route = (v1: number): string => `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: reviews, namespace: default }
spec:
  hosts: [reviews]
  http:
  - route:
    - { destination: { host: reviews, subset: v1 }, weight: ${v1} }
    - { destination: { host: reviews, subset: v2 }, weight: ${100 - v1} }
`;

const REQUEST = "envoy.service.discovery.v3.DiscoveryRequest";
const RESPONSE = "envoy.service.discovery.v3.DiscoveryResponse";

interface Raw {
  version_info: string;
  type_url: string;
  nonce: string;
  resources: { type_url: string; value: Uint8Array }[];
}

/** A sidecar-like ADS stream that keeps resources as the bytes on the wire. */
class RawSidecar {
  readonly #client: grpc.Client;
  readonly #call: grpc.ClientDuplexStream<Record<string, unknown>, Raw>;
  readonly #queue: Raw[] = [];
  readonly #waiters: ((r: Raw) => void)[] = [];

  constructor(port: number, readonly node: Record<string, unknown>) {
    this.#client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    this.#call = this.#client.makeBidiStreamRequest(
      "/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources",
      (req: Record<string, unknown>) => encodeMessage(REQUEST, req),
      (bytes: Buffer) => protoRoot().lookupType(RESPONSE).decode(bytes) as unknown as Raw,
    );
    this.#call.on("data", (r: Raw) => (this.#waiters.shift() ?? ((x: Raw) => this.#queue.push(x)))(r));
    this.#call.on("error", () => {});
  }

  request(req: Record<string, unknown>): void {
    this.#call.write(req);
  }

  next(timeoutMs = 10_000): Promise<Raw> {
    const queued = this.#queue.shift();
    if (queued) return Promise.resolve(queued);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${String(this.node.id)}: no xDS response within ${timeoutMs} ms`)), timeoutMs);
      this.#waiters.push((r) => {
        clearTimeout(timer);
        resolve(r);
      });
    });
  }

  ack(r: Raw, names?: string[]): void {
    this.request({ type_url: r.type_url, version_info: r.version_info, response_nonce: r.nonce, ...(names ? { resource_names: names } : {}) });
  }

  /** Subscribes to everything as a sidecar does; returns the latest response per type. */
  async subscribeAll(): Promise<Map<string, Raw>> {
    const got = new Map<string, Raw>();
    this.request({ node: this.node, type_url: TypeUrl.cluster });
    const cds = await this.next();
    this.ack(cds);
    got.set(cds.type_url, cds);
    const edsNames = cds.resources.map((r) => decodeName(r)).filter((n) => n.startsWith("outbound|9080|")).sort();
    this.request({ type_url: TypeUrl.endpoint, resource_names: edsNames });
    const eds = await this.next();
    this.ack(eds, edsNames);
    got.set(eds.type_url, eds);
    this.request({ type_url: TypeUrl.listener });
    const lds = await this.next();
    this.ack(lds);
    got.set(lds.type_url, lds);
    this.request({ type_url: TypeUrl.route, resource_names: ["9080"] });
    const rds = await this.next();
    this.ack(rds, ["9080"]);
    got.set(rds.type_url, rds);
    return got;
  }

  close(): void {
    this.#call.cancel();
    this.#client.close();
  }
}

/** A resource's name from its bytes (clusters, listeners, routes: field 1; assignments: cluster_name, field 1 too). */
function decodeName(any: { type_url: string; value: Uint8Array }): string {
  const type = protoRoot().lookupTypeOrEnum(any.type_url.replace("type.googleapis.com/", "")) as unknown as { decode(b: Uint8Array): Record<string, unknown> };
  const m = type.decode(any.value);
  return String(m.name ?? m.clusterName ?? m.cluster_name);
}

const byName = (r: Raw): Map<string, string> => new Map(r.resources.map((a) => [decodeName(a), Buffer.from(a.value).toString("base64")]));

const node = (name: string, ns: string, ip: string, labels: Record<string, string>): Record<string, unknown> => ({
  id: `sidecar~${ip}~${name}.${ns}~${ns}.svc.cluster.local`,
  metadata: { NAMESPACE: ns, LABELS: labels, INSTANCE_IPS: ip },
});

async function translations(monitoring: number): Promise<Record<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${monitoring}/metrics`)).text();
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^skiff_xds_translations\{part="(\w+)"\} (\d+)$/gm)) out[m[1]] = Number(m[2]);
  return out;
}

test("sidecars of one scope share one translation and get byte-identical routes, clusters and endpoints; other scopes get their own; a change is translated once per scope and sends only what changed", { timeout: 60_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "skiff-scopes-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, "mesh.yaml"), MESH);
  writeFileSync(join(dir, "route.yaml"), route(90));
  const cp = new ControlPlane({ files: [dir], xdsPort: 0, monitoringPort: 0, debounce: { quietMs: 10, maxDelayMs: 100 }, fileDebounceMs: 10, log: () => {} });
  const ports = await cp.start();
  t.after(() => cp.stop());

  // reviews-v1 and ratings-v1: one namespace, different labels that no selector tells apart.
  const a = new RawSidecar(ports.xds, node("reviews-v1", "default", "10.9.0.1", { app: "reviews", version: "v1" }));
  const b = new RawSidecar(ports.xds, node("ratings-v1", "default", "10.9.0.2", { app: "ratings", version: "v1" }));
  t.after(() => [a, b].forEach((c) => c.close()));
  const gotA = await a.subscribeAll();
  const gotB = await b.subscribeAll();
  assert.deepEqual(await translations(ports.monitoring), { scope: 1, own: 2 }, "one translation of the shared scope, one own part per proxy");

  for (const type of [TypeUrl.route, TypeUrl.endpoint]) {
    assert.deepEqual(byName(gotA.get(type)!), byName(gotB.get(type)!), `${type}: the same bytes`);
    assert.equal(gotA.get(type)!.version_info, gotB.get(type)!.version_info);
  }
  const clustersA = byName(gotA.get(TypeUrl.cluster)!);
  const clustersB = byName(gotB.get(TypeUrl.cluster)!);
  const outbound = [...clustersA.keys()].filter((n) => n.startsWith("outbound|9080|"));
  assert.deepEqual(outbound, ["outbound|9080|v1|reviews.default.svc.cluster.local", "outbound|9080|v2|reviews.default.svc.cluster.local", "outbound|9080||ratings.default.svc.cluster.local", "outbound|9080||reviews.default.svc.cluster.local"].sort());
  for (const name of outbound) assert.equal(clustersA.get(name), clustersB.get(name), `${name}: the same bytes`);
  // Their own parts differ: each has the inbound cluster of its own port, listening for its own address.
  assert.ok(clustersA.has("inbound|9080||") && clustersB.has("inbound|9080||"));
  assert.notEqual(gotA.get(TypeUrl.listener)!.version_info, gotB.get(TypeUrl.listener)!.version_info);

  // A proxy in another namespace, and one that a DestinationRule's workloadSelector picks: a scope each.
  const c = new RawSidecar(ports.xds, node("client-1", "other", "10.9.1.1", { app: "client" }));
  const canary = new RawSidecar(ports.xds, node("ratings-canary", "default", "10.9.0.3", { app: "ratings", track: "canary" }));
  t.after(() => [c, canary].forEach((x) => x.close()));
  await c.subscribeAll();
  const gotCanary = await canary.subscribeAll();
  assert.deepEqual(await translations(ports.monitoring), { scope: 3, own: 4 });
  const ratings = "outbound|9080||ratings.default.svc.cluster.local";
  assert.notEqual(byName(gotCanary.get(TypeUrl.cluster)!).get(ratings), clustersA.get(ratings), "the selected DestinationRule (RANDOM) applies to the canary only");

  // A VirtualService change: every proxy gets RDS, and nothing else.
  writeFileSync(join(dir, "route.yaml"), route(80));
  for (const sidecar of [a, b, c, canary]) {
    const r = await sidecar.next();
    assert.equal(r.type_url, TypeUrl.route, `${String(sidecar.node.id)}: only RDS after a route change`);
    assert.match(Buffer.from(r.resources[0].value).toString("latin1"), /outbound\|9080\|v2\|reviews/);
    sidecar.ack(r, ["9080"]);
  }
  // Once per scope and push (3 scopes, 4 proxies): fewer scope translations than proxies
  // built, whatever the number of pushes the file watch caused (normally one: +3 / +4).
  const after = await translations(ports.monitoring);
  assert.ok(after.scope - 3 >= 3 && after.scope - 3 < after.own - 4 && after.whole === undefined, JSON.stringify(after));

  // A new endpoint of ratings (same service account, so the clusters' mTLS identities stay): EDS only, and only its assignment.
  writeFileSync(join(dir, "more.yaml"), "apiVersion: networking.istio.io/v1\nkind: WorkloadEntry\nmetadata: { name: ratings-v2, namespace: default }\nspec: { address: 10.9.0.4, labels: { app: ratings, version: v2 }, serviceAccount: ratings }\n");
  for (const sidecar of [a, b]) {
    const r = await sidecar.next();
    assert.equal(r.type_url, TypeUrl.endpoint, `${String(sidecar.node.id)}: only EDS after an endpoint change`);
    assert.deepEqual(r.resources.map(decodeName), [ratings]);
  }
});
