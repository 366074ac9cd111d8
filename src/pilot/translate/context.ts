// The push context: indexes built once per mesh snapshot (services by host, config by
// kind, resolved hosts), and the proxy view: what one proxy may see of it (services
// after exportTo and Sidecar scoping, its DestinationRules and VirtualServices, its
// outbound traffic policy). Every translator reads the mesh through these two, so the
// visibility rules live in one place. Pure and deterministic.
import type { KindName, Resource } from "../../api/types.ts";
import type { Subset, TrafficPolicy } from "../../api/kinds.ts";
import type { Endpoint, MeshService } from "../../registry/types.ts";
import { endpointKey } from "../../registry/types.ts";
import type { MeshConfig, MeshSnapshot, ProxyNode, TranslationProblem } from "./types.ts";
import { hostCovers, hostsIntersect, isWildcard, mostSpecificMatch, resolveHost } from "./hosts.ts";

export type VirtualServiceResource = Resource<"VirtualService">;
export type DestinationRuleResource = Resource<"DestinationRule">;
export type SidecarResource = Resource<"Sidecar">;
export type GatewayResource = Resource<"Gateway">;

/** A VirtualService with its hosts and gateways resolved in its own namespace. */
export interface ResolvedVirtualService {
  resource: VirtualServiceResource;
  /** FQDNs or wildcards (`reviews` in ns `x` → `reviews.x.svc.cluster.local`). */
  hosts: string[];
  /** `mesh` or `namespace/name` of a Gateway. */
  gateways: string[];
}

/**
 * The DestinationRule in force for one host as seen by one proxy. Several rules of one
 * namespace for the same host are merged as Istio does: subsets are unioned (the first
 * rule defining a subset name wins), the first rule with a top-level trafficPolicy
 * gives it. `sources` lists `DestinationRule/ns/name` of every rule merged, in order.
 */
export interface EffectiveDestinationRule {
  /** The rule's host as written, resolved to an FQDN (may be a wildcard). */
  host: string;
  namespace: string;
  trafficPolicy?: TrafficPolicy;
  subsets: Subset[];
  sources: string[];
}

export type ClusterDirection = "outbound" | "inbound";

/** Istio's cluster name: `outbound|9080|v1|reviews.default.svc.cluster.local`, `inbound|8080||`. */
export function clusterName(direction: ClusterDirection, port: number, subset = "", host = ""): string {
  return `${direction}|${port}|${subset}|${host}`;
}

/** Parses a name made by {@link clusterName}; undefined for other names (BlackHoleCluster, ...). */
export function parseClusterName(
  name: string,
): { direction: ClusterDirection; port: number; subset: string; host: string } | undefined {
  const parts = name.split("|");
  if (parts.length !== 4) return undefined;
  const [direction, port, subset, host] = parts;
  if (direction !== "outbound" && direction !== "inbound") return undefined;
  const n = Number(port);
  if (!Number.isInteger(n)) return undefined;
  return { direction, port: n, subset, host };
}

/** Indexes over one mesh snapshot, shared by every proxy translated from it. */
export interface PushContext {
  snapshot: MeshSnapshot;
  mesh: MeshConfig;
  /** Every service in the registry, sorted by hostname then namespace. */
  services: readonly MeshService[];
  /** Services by FQDN (several namespaces may declare the same ServiceEntry host). */
  servicesByHost: ReadonlyMap<string, readonly MeshService[]>;
  virtualServices: readonly ResolvedVirtualService[];
  destinationRules: readonly DestinationRuleResource[];
  sidecars: readonly SidecarResource[];
  gateways: readonly GatewayResource[];
  /** Endpoints of `host` on service port `port` (empty when none). */
  endpoints(host: string, port: number): readonly Endpoint[];
  /** Resolves a host written in a resource of `namespace` (see hosts.ts resolveHost). */
  resolveHost(host: string, namespace: string): string;
}

/** What one proxy may see of a push context. */
export interface ProxyView {
  ctx: PushContext;
  proxy: ProxyNode;
  /** The Sidecar resource scoping this proxy (sidecars only), if any. */
  sidecar?: SidecarResource;
  /** Services visible to the proxy, one per hostname, sorted by hostname. */
  services: readonly MeshService[];
  /** The visible service for an FQDN (exact host, no wildcard matching). */
  service(host: string): MeshService | undefined;
  /** DestinationRule in force for `host` from this proxy (Istio's precedence). */
  destinationRule(host: string): EffectiveDestinationRule | undefined;
  /** VirtualServices bound to `mesh` and visible to the proxy, after merge rules. */
  virtualServices: readonly ResolvedVirtualService[];
  /**
   * The mesh VirtualService routing `host` (exact host beats the most specific
   * wildcard), or undefined when the default route applies.
   */
  virtualServiceFor(host: string): ResolvedVirtualService | undefined;
  /** VirtualServices bound to Gateway `namespace/name`, visible to the proxy, oldest first. */
  virtualServicesForGateway(gatewayNsName: string): readonly ResolvedVirtualService[];
  /** Gateways whose selector matches this proxy's labels (routers), sorted by ns/name. */
  gateways: readonly GatewayResource[];
  outboundTrafficPolicy: "ALLOW_ANY" | "REGISTRY_ONLY";
  /**
   * Endpoints of services that this proxy itself serves (its inbound side): same
   * namespace, address among the proxy's IPs, and labels agreeing with the proxy's;
   * narrowed to the endpoints whose workload name is the proxy's workload or pod name
   * when there are such (replicas sharing 127.0.0.1).
   */
  ownEndpoints: readonly Endpoint[];
  /** Problems found while building the view (conflicting VirtualServices, ...). */
  problems: TranslationProblem[];
  resolveHost(host: string, namespace: string): string;
}

// ---------------------------------------------------------------- push context

function key(r: Resource): string {
  return `${r.kind}/${r.metadata.namespace ?? ""}/${r.metadata.name}`;
}

/** Istio orders competing config by creation time, then namespace/name. */
function byAge(a: Resource, b: Resource): number {
  const ta = a.metadata.creationTimestamp ?? "";
  const tb = b.metadata.creationTimestamp ?? "";
  if (ta !== tb) return ta < tb ? -1 : 1;
  const ka = key(a);
  const kb = key(b);
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

function ofKind<K extends KindName>(snapshot: MeshSnapshot, kind: K): Resource<K>[] {
  // The union AnyResource does not narrow through a generic kind; the filter makes the cast true.
  return (snapshot.config.filter((r) => r.kind === kind) as unknown as Resource<K>[]).sort(byAge);
}

const kindIndex = new WeakMap<PushContext, Map<KindName, readonly Resource[]>>();

/**
 * The config objects of one kind, oldest first (Istio's precedence), once per push
 * context: translators ask per proxy (and auto mTLS per outbound cluster), and a walk
 * over every config object each time grew with mesh size squared. Read-only: shared.
 */
export function configOfKind<K extends KindName>(ctx: PushContext, kind: K): readonly Resource<K>[] {
  let index = kindIndex.get(ctx);
  if (!index) {
    index = new Map();
    kindIndex.set(ctx, index);
  }
  let list = index.get(kind);
  if (!list) {
    list = ofKind(ctx.snapshot, kind) as unknown as readonly Resource[];
    index.set(kind, list);
  }
  return list as unknown as readonly Resource<K>[];
}

export function buildPushContext(snapshot: MeshSnapshot): PushContext {
  const mesh = snapshot.mesh;
  const services = snapshot.registry.services;
  const servicesByHost = new Map<string, MeshService[]>();
  for (const s of services) {
    const list = servicesByHost.get(s.hostname) ?? [];
    list.push(s);
    servicesByHost.set(s.hostname, list);
  }
  const isKnown = (fqdn: string): boolean => servicesByHost.has(fqdn);
  const resolve = (host: string, namespace: string): string =>
    resolveHost(host, namespace, mesh.domain, isKnown);

  const virtualServices = ofKind(snapshot, "VirtualService").map((vs): ResolvedVirtualService => {
    const ns = vs.metadata.namespace ?? "default";
    const gateways = (vs.spec.gateways ?? ["mesh"]).map((g) =>
      g === "mesh" ? g : g.includes("/") ? g : `${ns}/${g}`,
    );
    return { resource: vs, hosts: (vs.spec.hosts ?? []).map((h) => resolve(h, ns)), gateways };
  });

  return {
    snapshot,
    mesh,
    services,
    servicesByHost,
    virtualServices,
    destinationRules: ofKind(snapshot, "DestinationRule"),
    sidecars: ofKind(snapshot, "Sidecar"),
    gateways: ofKind(snapshot, "Gateway").sort((a, b) => (key(a) < key(b) ? -1 : 1)),
    endpoints: (host, port) => snapshot.registry.endpoints.get(endpointKey(host, port)) ?? [],
    resolveHost: resolve,
  };
}

// ---------------------------------------------------------------- visibility rules

/**
 * Whether config or a service of namespace `own` with `exportTo` is visible from
 * namespace `from`. Empty/absent exportTo means `*` (Istio's default).
 */
export function isExportedTo(exportTo: readonly string[] | undefined, own: string, from: string): boolean {
  if (!exportTo || exportTo.length === 0) return true;
  for (const e of exportTo) {
    if (e === "*" || e === from) return true;
    if (e === "." && own === from) return true;
  }
  return false;
}

/** Whether labels carry every key/value of a selector (none: matches everything). */
export function selectorMatches(matchLabels: Record<string, string> | undefined, labels: Record<string, string>): boolean {
  return Object.entries(matchLabels ?? {}).every(([k, v]) => labels[k] === v);
}

/**
 * The Sidecar resource for a proxy: in its namespace one whose workloadSelector
 * matches its labels (oldest first), else its namespace's selector-less default,
 * else the root namespace's selector-less default.
 */
export function selectSidecar(ctx: PushContext, proxy: ProxyNode): SidecarResource | undefined {
  const inNs = ctx.sidecars.filter((s) => s.metadata.namespace === proxy.namespace);
  const bySelector = inNs.find(
    (s) => s.spec.workloadSelector?.labels && selectorMatches(s.spec.workloadSelector.labels, proxy.labels),
  );
  if (bySelector) return bySelector;
  const nsDefault = inNs.find((s) => !s.spec.workloadSelector?.labels);
  if (nsDefault) return nsDefault;
  return ctx.sidecars.find(
    (s) => s.metadata.namespace === ctx.mesh.rootNamespace && !s.spec.workloadSelector?.labels,
  );
}

/** One `namespace/host` entry of a Sidecar egress listener, namespace resolved. */
interface EgressHost {
  /** A namespace name, `*` for any; undefined for `~` (matches nothing). */
  namespace: string | undefined;
  host: string;
}

function parseEgressHosts(ctx: PushContext, sidecar: SidecarResource, proxyNs: string): EgressHost[] {
  const out: EgressHost[] = [];
  for (const listener of sidecar.spec.egress ?? []) {
    for (const entry of listener.hosts ?? []) {
      const slash = entry.indexOf("/");
      // Istio requires `ns/host`; a bare host is read leniently as `*/host`.
      const nsPart = slash < 0 ? "*" : entry.slice(0, slash);
      const hostPart = slash < 0 ? entry : entry.slice(slash + 1);
      const namespace = nsPart === "~" ? undefined : nsPart === "." ? proxyNs : nsPart;
      const host =
        hostPart.includes(".") || hostPart.startsWith("*") || namespace === undefined || namespace === "*"
          ? hostPart
          : ctx.resolveHost(hostPart, namespace);
      out.push({ namespace, host });
    }
  }
  return out;
}

function egressAllows(egress: EgressHost[], namespace: string, host: string): boolean {
  return egress.some(
    (e) => e.namespace !== undefined && (e.namespace === "*" || e.namespace === namespace) && hostCovers(e.host, host),
  );
}

function egressAllowsConfig(egress: EgressHost[], namespace: string, hosts: string[]): boolean {
  return egress.some(
    (e) =>
      e.namespace !== undefined &&
      (e.namespace === "*" || e.namespace === namespace) &&
      hosts.some((h) => hostsIntersect(e.host, h)),
  );
}

// ---------------------------------------------------------------- proxy view

export function proxyView(ctx: PushContext, proxy: ProxyNode): ProxyView {
  const problems: TranslationProblem[] = [];
  const proxyNs = proxy.namespace;
  // Sidecar resources scope sidecars only; gateways and proxyless clients see the mesh.
  const sidecar = proxy.type === "sidecar" ? selectSidecar(ctx, proxy) : undefined;
  const egress = sidecar?.spec.egress?.length ? parseEgressHosts(ctx, sidecar, proxyNs) : undefined;

  // Services: exported to the proxy's namespace, then scoped by Sidecar egress hosts.
  // When several namespaces declare one host, the proxy's own namespace wins, then
  // the first in registry order (hostname, namespace). Built on first use: it is a walk
  // over every service, and what a proxy builds for itself alone (inbound side) does not
  // need it, while the outbound side is built once per scope and shared (xds/scopes.ts).
  let visible: { byHost: Map<string, MeshService>; sorted: MeshService[] } | undefined;
  const visibleServices = (): { byHost: Map<string, MeshService>; sorted: MeshService[] } => {
    if (visible) return visible;
    const byHost = new Map<string, MeshService>();
    for (const s of ctx.services) {
      if (!isExportedTo(s.exportTo, s.namespace, proxyNs)) continue;
      if (egress && !egressAllows(egress, s.namespace, s.hostname)) continue;
      const seen = byHost.get(s.hostname);
      if (!seen || (s.namespace === proxyNs && seen.namespace !== proxyNs)) byHost.set(s.hostname, s);
    }
    visible = { byHost, sorted: [...byHost.values()].sort((a, b) => (a.hostname < b.hostname ? -1 : 1)) };
    return visible;
  };
  // One host's visible service without walking them all (same rule, over that host's
  // services in registry order): inbound-side lookups and tracing collectors ask for one.
  const oneHost = new Map<string, MeshService | undefined>();
  const visibleService = (host: string): MeshService | undefined => {
    if (visible) return visible.byHost.get(host);
    if (oneHost.has(host)) return oneHost.get(host);
    let found: MeshService | undefined;
    for (const s of ctx.servicesByHost.get(host) ?? []) {
      if (!isExportedTo(s.exportTo, s.namespace, proxyNs)) continue;
      if (egress && !egressAllows(egress, s.namespace, s.hostname)) continue;
      if (!found || (s.namespace === proxyNs && found.namespace !== proxyNs)) found = s;
    }
    oneHost.set(host, found);
    return found;
  };

  const vsVisible = (vs: ResolvedVirtualService): boolean =>
    isExportedTo(vs.resource.spec.exportTo, vs.resource.metadata.namespace ?? "", proxyNs);

  // Mesh VirtualServices: for each host, the oldest VirtualService naming it wins
  // (Istio does not merge sidecar VirtualServices); the losers are reported.
  const meshVs: ResolvedVirtualService[] = [];
  const vsByHost = new Map<string, ResolvedVirtualService>();
  for (const vs of ctx.virtualServices) {
    if (!vs.gateways.includes("mesh") || !vsVisible(vs)) continue;
    if (egress && !egressAllowsConfig(egress, vs.resource.metadata.namespace ?? "", vs.hosts)) continue;
    meshVs.push(vs);
    for (const h of vs.hosts) {
      const winner = vsByHost.get(h);
      if (!winner) vsByHost.set(h, vs);
      else
        problems.push({
          resource: key(vs.resource),
          message: `host ${h} is already routed by ${key(winner.resource)} (older); this VirtualService is ignored for that host. Merge the two or give them different hosts.`,
        });
    }
  }

  const drCache = new Map<string, EffectiveDestinationRule | undefined>();
  const destinationRule = (host: string): EffectiveDestinationRule | undefined => {
    if (!drCache.has(host)) drCache.set(host, lookupDestinationRule(ctx, proxy, host, visibleService(host)));
    return drCache.get(host);
  };

  const outboundTrafficPolicy = sidecar?.spec.outboundTrafficPolicy?.mode ?? ctx.mesh.outboundTrafficPolicy.mode;

  const ownEndpoints: Endpoint[] = [];
  if (proxy.type !== "proxyless") {
    const index = endpointsByAddress(ctx);
    // In registry order, as a walk over all endpoints would meet them.
    const candidates = [...new Set(proxy.ipAddresses)].flatMap((a) => index.get(a) ?? []).sort((a, b) => a.at - b.at);
    for (const { ep } of candidates) {
      if (ep.namespace !== proxyNs) continue;
      // Several workloads may share an address (local replicas on 127.0.0.1):
      // labels both sides define must agree.
      const agree = Object.entries(ep.labels).every(([k, v]) => proxy.labels[k] === undefined || proxy.labels[k] === v);
      if (agree) ownEndpoints.push(ep);
    }
  }
  // Local replicas of one workload share address and labels; when some endpoints name
  // this very proxy (WorkloadEntry name = the proxy's workload name or pod name), only
  // those are its own.
  const podShort = proxy.podName.split(".")[0];
  const named = ownEndpoints.filter((ep) => ep.workloadName === proxy.workloadName || ep.workloadName === podShort);
  if (named.length > 0) ownEndpoints.splice(0, ownEndpoints.length, ...named);
  ownEndpoints.sort((a, b) => a.servicePort - b.servicePort || (a.hostname < b.hostname ? -1 : a.hostname > b.hostname ? 1 : 0));

  const gateways =
    proxy.type === "router"
      ? ctx.gateways.filter((g) => {
          const sel = g.spec.selector ?? {};
          return Object.keys(sel).length > 0 && selectorMatches(sel, proxy.labels);
        })
      : [];

  return {
    ctx,
    proxy,
    sidecar,
    get services() {
      return visibleServices().sorted;
    },
    service: visibleService,
    destinationRule,
    virtualServices: meshVs,
    virtualServiceFor: (host) => {
      const best = mostSpecificMatch(host, vsByHost.keys());
      return best === undefined ? undefined : vsByHost.get(best);
    },
    virtualServicesForGateway: (gw) => ctx.virtualServices.filter((vs) => vs.gateways.includes(gw) && vsVisible(vs)),
    gateways,
    outboundTrafficPolicy,
    ownEndpoints,
    problems,
    resolveHost: ctx.resolveHost,
  };
}

// Registry endpoints by address, in registry order: a proxy finds its own endpoints by
// its IPs without walking every endpoint of the mesh (that walk, per proxy, grew as
// proxies × endpoints).
const addressIndex = new WeakMap<PushContext, Map<string, { at: number; ep: Endpoint }[]>>();

function endpointsByAddress(ctx: PushContext): Map<string, { at: number; ep: Endpoint }[]> {
  let index = addressIndex.get(ctx);
  if (!index) {
    index = new Map();
    let at = 0;
    for (const list of ctx.snapshot.registry.endpoints.values()) {
      for (const ep of list) {
        const entry = { at: at++, ep };
        const same = index.get(ep.address);
        if (same) same.push(entry);
        else index.set(ep.address, [entry]);
      }
    }
    addressIndex.set(ctx, index);
  }
  return index;
}

// DestinationRules of a namespace with their hosts resolved: exact hosts in a map,
// wildcards in a list. Built once per push context: lookups happen per proxy and host,
// so resolving and scanning every rule each time would grow with mesh size squared.
interface NamespaceRules {
  exact: Map<string, DestinationRuleResource[]>;
  wildcard: { host: string; rule: DestinationRuleResource }[];
}

const rulesIndex = new WeakMap<PushContext, Map<string, NamespaceRules>>();

function rulesByNamespace(ctx: PushContext): Map<string, NamespaceRules> {
  let index = rulesIndex.get(ctx);
  if (!index) {
    index = new Map();
    for (const rule of ctx.destinationRules) {
      const ns = rule.metadata.namespace ?? "";
      const entry: NamespaceRules = index.get(ns) ?? { exact: new Map(), wildcard: [] };
      const host = ctx.resolveHost(rule.spec.host, ns);
      if (isWildcard(host)) entry.wildcard.push({ host, rule });
      else entry.exact.set(host, [...(entry.exact.get(host) ?? []), rule]);
      index.set(ns, entry);
    }
    rulesIndex.set(ctx, index);
  }
  return index;
}

/**
 * Istio's DestinationRule precedence for a host seen from a proxy: rules in the
 * proxy's namespace first, then rules exported from the service's namespace, then
 * rules exported from the root namespace. Within the chosen namespace the most
 * specific host wins; rules whose workloadSelector matches the proxy beat rules
 * without a selector; rules with a non-matching selector never apply.
 */
function lookupDestinationRule(
  ctx: PushContext,
  proxy: ProxyNode,
  host: string,
  service: MeshService | undefined,
): EffectiveDestinationRule | undefined {
  const namespaces = [proxy.namespace];
  if (service && !namespaces.includes(service.namespace)) namespaces.push(service.namespace);
  if (!namespaces.includes(ctx.mesh.rootNamespace)) namespaces.push(ctx.mesh.rootNamespace);

  for (const ns of namespaces) {
    const rules = rulesByNamespace(ctx).get(ns);
    if (!rules) continue;
    const applies = (dr: DestinationRuleResource): boolean => {
      // Rules in the proxy's own namespace apply to it whatever their exportTo.
      if (ns !== proxy.namespace && !isExportedTo(dr.spec.exportTo, ns, proxy.namespace)) return false;
      const sel = dr.spec.workloadSelector?.matchLabels;
      return !sel || Object.keys(sel).length === 0 || selectorMatches(sel, proxy.labels);
    };
    let best = host;
    let matching = (rules.exact.get(host) ?? []).filter(applies);
    if (matching.length === 0) {
      const wild = rules.wildcard.filter((w) => applies(w.rule) && hostCovers(w.host, host));
      const most = mostSpecificMatch(host, wild.map((w) => w.host));
      if (most === undefined) continue;
      best = most;
      matching = wild.filter((w) => w.host === most).map((w) => w.rule);
    }
    const withSelector = matching.filter((dr) => Object.keys(dr.spec.workloadSelector?.matchLabels ?? {}).length > 0);
    return mergeDestinationRules(best, ns, withSelector.length > 0 ? withSelector : matching);
  }
  return undefined;
}

function mergeDestinationRules(host: string, namespace: string, rules: DestinationRuleResource[]): EffectiveDestinationRule {
  const merged: EffectiveDestinationRule = { host, namespace, subsets: [], sources: [] };
  for (const dr of rules) {
    merged.sources.push(key(dr));
    if (!merged.trafficPolicy && dr.spec.trafficPolicy) merged.trafficPolicy = dr.spec.trafficPolicy;
    for (const subset of dr.spec.subsets ?? []) {
      if (!merged.subsets.some((s) => s.name === subset.name)) merged.subsets.push(subset);
    }
  }
  return merged;
}
