// pilot/translate's public face: `translate(snapshot, proxy)` turns an immutable mesh
// snapshot and one proxy's identity into the Envoy v3 resources that proxy runs, plus
// the problems found on the way. Pure: no I/O, no clocks, deterministic order.
import { buildPushContext, proxyView } from "./context.ts";
import type { ProxyView } from "./context.ts";
import type { EnvoyJson, EnvoyResources, MeshSnapshot, ProxyNode, TranslationProblem, TranslationResult } from "./types.ts";
import { byName } from "./envoy-json.ts";
import { buildOutbound } from "./listeners.ts";
import { buildInbound } from "./inbound.ts";
import { buildGateways } from "./gateway.ts";
import { buildClusters, edsClusterNames } from "./clusters.ts";
import { buildEndpoints } from "./endpoints.ts";
import { translateProxyless } from "./proxyless.ts";
import { proxySecurity } from "./security/index.ts";
import type { ProxySecurity } from "./security/index.ts";
import { proxyTelemetry } from "./telemetry/index.ts";

export type * from "./types.ts";
export { TypeUrl, defaultMeshConfig } from "./types.ts";
export { buildPushContext, proxyView, clusterName, parseClusterName } from "./context.ts";
export type { PushContext, ProxyView, ResolvedVirtualService, EffectiveDestinationRule } from "./context.ts";
export { translateHttpRoutes, defaultRoute, defaultRetryPolicy, outboundClusterName } from "./routes.ts";
export type { RouteScope } from "./routes.ts";
export { routeScope } from "./scope.ts";
export { httpConnectionManager, httpFilters, tcpProxy } from "./hcm.ts";
export type { HttpFilterSlots } from "./hcm.ts";
export { serviceDomains, resolveHost, hostCovers, hostsIntersect } from "./hosts.ts";

/**
 * Listeners and the route configurations they reference. Security (mTLS, JWT, RBAC)
 * applies to what the proxy receives: inbound chains of sidecars, gateways' listeners.
 */
function listenersAndRoutes(view: ProxyView, problems: TranslationProblem[], security: ProxySecurity): { listeners: EnvoyJson[]; routes: EnvoyJson[] } {
  const httpFilters = { security: security.httpFilters };
  if (view.proxy.type === "router") return buildGateways(view, problems, { httpFilters });
  const outbound = buildOutbound(view, problems);
  return {
    listeners: [...outbound.listeners, ...buildInbound(view, { httpFilters, decorateChain: security.decorateChain })],
    routes: outbound.routes,
  };
}

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
function tidyProblems(problems: TranslationProblem[]): TranslationProblem[] {
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

export function translate(snapshot: MeshSnapshot, proxy: ProxyNode): TranslationResult {
  const problems: TranslationProblem[] = [];
  if (proxy.type === "proxyless") {
    const result = translateProxyless(snapshot, proxy);
    return { resources: result.resources, problems: tidyProblems(result.problems) };
  }
  const view = proxyView(buildPushContext(snapshot), proxy);
  const security = proxySecurity(view, problems);
  const telemetry = proxyTelemetry(view, problems);
  const built = listenersAndRoutes(view, problems, security);
  const listeners = telemetry.decorateListeners(built.listeners);
  const routes = built.routes;
  const clusters = addClusters(buildClusters(view, security.clusterOptions), [...security.extraClusters, ...telemetry.extraClusters]);
  const resources: EnvoyResources = {
    listeners: uniqueByName(listeners, "listeners", proxy, problems).sort(byName),
    routes: uniqueByName(routes, "route configurations", proxy, problems).sort(byName),
    clusters,
    endpoints: buildEndpoints(view, edsClusterNames(clusters)),
    // Certificates come over SDS from the proxy's agent (secrets `default` and `ROOTCA`,
    // see docs/translation.md "Security"); file-based certificates need none here.
    secrets: [],
  };
  return { resources, problems: tidyProblems([...view.problems, ...problems]) };
}
