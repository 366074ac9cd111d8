// pilot/translate's public face: `translate(snapshot, proxy)` turns an immutable mesh
// snapshot and one proxy's identity into the Envoy v3 resources that proxy runs, plus
// the problems found on the way. Pure: no I/O, no clocks, deterministic order.
import { buildPushContext, proxyView } from "./context.ts";
import type { ProxyView, PushContext } from "./context.ts";
import type { EnvoyJson, EnvoyResources, MeshSnapshot, ProxyNode, TranslationProblem, TranslationResult } from "./types.ts";
import { byName } from "./envoy-json.ts";
import { buildOutboundListeners, buildOutboundRoutes } from "./listeners.ts";
import { buildInbound } from "./inbound.ts";
import { buildGateways } from "./gateway.ts";
import { buildClusters, buildInboundClusters, buildOutboundClusters, buildSpecialClusters, edsClusterNames } from "./clusters.ts";
import { buildEndpoints } from "./endpoints.ts";
import { translateProxyless } from "./proxyless.ts";
import { outboundClusterOptions, proxySecurity } from "./security/index.ts";
import { proxyTelemetry } from "./telemetry/index.ts";

export type * from "./types.ts";
export { TypeUrl, defaultMeshConfig } from "./types.ts";
export { buildPushContext, proxyView, clusterName, parseClusterName } from "./context.ts";
export type { PushContext, ProxyView, ResolvedVirtualService, EffectiveDestinationRule } from "./context.ts";
export { translateHttpRoutes, defaultRoute, defaultRetryPolicy, outboundClusterName } from "./routes.ts";
export type { RouteScope } from "./routes.ts";
export { routeScope, proxyScopeKey } from "./scope.ts";
export { httpConnectionManager, httpFilters, tcpProxy } from "./hcm.ts";
export type { HttpFilterSlots } from "./hcm.ts";
export { serviceDomains, resolveHost, hostCovers, hostsIntersect } from "./hosts.ts";


/**
 * Envoy rejects an LDS/RDS update with two resources of one name. Builders avoid it;
 * this is the last guard (e.g. an uncaptured inbound port bound on 0.0.0.0 that is also
 * an outbound service port): the first keeps the name, the clash is reported.
 */
function uniqueByName(resources: EnvoyJson[], what: string, proxy: ProxyNode, problems: TranslationProblem[]): EnvoyJson[] {
  const seen = new Set<string>();
  return resources.filter((r) => {
    const name = String(r.name);
    if (!seen.has(name)) {
      seen.add(name);
      return true;
    }
    problems.push({
      resource: `Proxy/${proxy.namespace}/${proxy.podName}`,
      message: `two ${what} are both named ${name}; only the first is sent. Move one of the ports (Sidecar ingress bind, service port) so they differ.`,
    });
    return false;
  });
}

/** `extra` clusters whose names are not taken yet, all sorted by name. */
function addClusters(clusters: EnvoyJson[], extra: EnvoyJson[]): EnvoyJson[] {
  const names = new Set(clusters.map((c) => String(c.name)));
  return [...clusters, ...extra.filter((c) => !names.has(String(c.name)))].sort(byName);
}

/** Problems once each, ordered by resource then message, so output is stable. */
export function tidyProblems(problems: TranslationProblem[]): TranslationProblem[] {
  const seen = new Set<string>();
  const out: TranslationProblem[] = [];
  for (const p of problems) {
    const id = `${p.resource}\u0000${p.message}`;
    if (seen.has(id)) continue;
    seen.add(id);
    out.push(p);
  }
  return out.sort((a, b) =>
    a.resource < b.resource ? -1 : a.resource > b.resource ? 1 : a.message < b.message ? -1 : a.message > b.message ? 1 : 0,
  );
}

/**
 * A sidecar's outbound side: what every proxy of its scope (see proxyScopeKey) gets
 * alike — outbound listeners before telemetry decorates them, the route configurations
 * they name, the outbound clusters (with mesh mTLS) and their endpoints, and the
 * problems found building them. Listeners here are not sent as they are: translateOwn
 * puts them with the proxy's own listeners and decorates them.
 */
export function translateScoped(ctx: PushContext, proxy: ProxyNode): TranslationResult {
  const view = proxyView(ctx, proxy);
  const problems: TranslationProblem[] = [];
  const listeners = buildOutboundListeners(view, problems);
  const routes = uniqueByName(buildOutboundRoutes(view, problems), "route configurations", proxy, problems).sort(byName);
  const clusters = buildOutboundClusters(view, outboundClusterOptions(view, problems));
  const resources: EnvoyResources = { listeners, routes, clusters, endpoints: buildEndpoints(view, edsClusterNames(clusters)), secrets: [] };
  return { resources, problems: tidyProblems([...view.problems, ...problems]) };
}

/**
 * What a sidecar gets beyond its scope's shared part (from translateScoped): every
 * listener (the shared outbound ones with its inbound ones, through telemetry, which
 * may name the workload), its inbound, special and extra clusters (those whose names
 * the shared clusters do not take), their endpoints, and its own problems. The shared
 * part's route configurations, clusters and endpoints go to the proxy as they are.
 */
export function translateOwn(ctx: PushContext, proxy: ProxyNode, scoped: TranslationResult): TranslationResult {
  const view = proxyView(ctx, proxy);
  const problems: TranslationProblem[] = [];
  const security = proxySecurity(view, problems);
  const telemetry = proxyTelemetry(view, problems);
  const inbound = buildInbound(view, { httpFilters: { security: security.httpFilters }, decorateChain: security.decorateChain });
  const listeners = telemetry.decorateListeners([...scoped.resources.listeners, ...inbound]);
  const shared = sharedClusterNames(scoped);
  const own = [...buildInboundClusters(view, security.clusterOptions), ...buildSpecialClusters(view)];
  const extra = [...security.extraClusters, ...telemetry.extraClusters].filter((c) => !shared.has(String(c.name)));
  const clusters = addClusters(own, extra);
  const resources: EnvoyResources = {
    listeners: uniqueByName(listeners, "listeners", proxy, problems).sort(byName),
    routes: [],
    clusters,
    endpoints: buildEndpoints(view, edsClusterNames(clusters)),
    secrets: [],
  };
  return { resources, problems: tidyProblems([...view.problems, ...problems]) };
}

// The shared clusters' names, once per scope translation (not once per proxy of the scope).
const clusterNamesOf = new WeakMap<TranslationResult, ReadonlySet<string>>();

function sharedClusterNames(scoped: TranslationResult): ReadonlySet<string> {
  let names = clusterNamesOf.get(scoped);
  if (!names) {
    names = new Set(scoped.resources.clusters.map((c) => String(c.name)));
    clusterNamesOf.set(scoped, names);
  }
  return names;
}

function byClusterName(a: EnvoyJson, b: EnvoyJson): number {
  const x = String(a.cluster_name);
  const y = String(b.cluster_name);
  return x < y ? -1 : x > y ? 1 : 0;
}

/** A sidecar's whole translation from its scope's shared part and its own (what the ADS server sends, as one result). */
export function mergeScoped(scoped: TranslationResult, own: TranslationResult): TranslationResult {
  return {
    resources: {
      listeners: own.resources.listeners,
      routes: scoped.resources.routes,
      clusters: [...scoped.resources.clusters, ...own.resources.clusters].sort(byName),
      endpoints: [...scoped.resources.endpoints, ...own.resources.endpoints].sort(byClusterName),
      secrets: [],
    },
    problems: tidyProblems([...scoped.problems, ...own.problems]),
  };
}

/** Gateways: listeners and routes together (gateways are translated whole, per proxy). */
function translateRouter(view: ProxyView, problems: TranslationProblem[]): EnvoyResources {
  const security = proxySecurity(view, problems);
  const telemetry = proxyTelemetry(view, problems);
  const built = buildGateways(view, problems, { httpFilters: { security: security.httpFilters } });
  const listeners = telemetry.decorateListeners(built.listeners);
  const clusters = addClusters(buildClusters(view, security.clusterOptions), [...security.extraClusters, ...telemetry.extraClusters]);
  return {
    listeners: uniqueByName(listeners, "listeners", view.proxy, problems).sort(byName),
    routes: uniqueByName(built.routes, "route configurations", view.proxy, problems).sort(byName),
    clusters,
    endpoints: buildEndpoints(view, edsClusterNames(clusters)),
    // Certificates come over SDS from the proxy's agent (secrets `default` and `ROOTCA`,
    // see docs/translation.md "Security"); file-based certificates need none here.
    secrets: [],
  };
}

export function translate(snapshot: MeshSnapshot, proxy: ProxyNode): TranslationResult {
  if (proxy.type === "proxyless") {
    const result = translateProxyless(snapshot, proxy);
    return { resources: result.resources, problems: tidyProblems(result.problems) };
  }
  const ctx = buildPushContext(snapshot);
  if (proxy.type === "sidecar") {
    // The same two parts the ADS server builds (the first once per scope), so what it
    // sends is, by construction, what this returns.
    const scoped = translateScoped(ctx, proxy);
    return mergeScoped(scoped, translateOwn(ctx, proxy, scoped));
  }
  const problems: TranslationProblem[] = [];
  const view = proxyView(ctx, proxy);
  const resources = translateRouter(view, problems);
  return { resources, problems: tidyProblems([...view.problems, ...problems]) };
}
