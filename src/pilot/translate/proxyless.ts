// Translation for proxyless gRPC clients (@grpc/grpc-js-xds, grpc-go, ...). Such a
// client asks for listeners by name, `host:port` (or `host`) as it appears in its
// `xds:///host:port` target, and runs each one's HTTP connection manager itself
// (an "api_listener": no sockets, no filter chains). So for each requested name:
//   - an api_listener with an HCM that reads its routes over RDS (route config named
//     like the listener), with only the router filter (what gRPC implements);
//   - a route configuration with one virtual host for the service, routes from the
//     mesh VirtualService of the host (weighted subsets, header matches, ...) or the
//     default route to the service;
//   - the EDS clusters those routes reference and their ClusterLoadAssignments.
// The cluster, endpoint and route builders are the sidecar translation's own; only
// the per-filter configs (fault, CORS) are dropped, as gRPC has no such filters here.
import { buildOutboundClusters, edsClusterNames } from "./clusters.ts";
import type { ProxyView } from "./context.ts";
import { buildPushContext, proxyView } from "./context.ts";
import { buildEndpoints } from "./endpoints.ts";
import { EnvoyType, FilterName, adsConfigSource, byName, typed } from "./envoy-json.ts";
import { defaultRoute, outboundClusterName, translateHttpRoutes } from "./routes.ts";
import { routeScope } from "./scope.ts";
import type { EnvoyJson, MeshSnapshot, ProxyNode, TranslationProblem, TranslationResult } from "./types.ts";
import type { MeshService, ServicePort } from "../../registry/types.ts";

interface Target {
  /** The listener name as requested. */
  name: string;
  service: MeshService;
  port: ServicePort;
}

/** Splits `host:port` / `host`; a bracketed IPv6 host keeps its brackets out. */
function splitTarget(name: string): { host: string; port?: number } {
  const m = /^(.*):(\d+)$/.exec(name);
  if (m && !m[1].endsWith(":")) return { host: m[1].replace(/^\[|\]$/g, ""), port: Number(m[2]) };
  return { host: name };
}

function resolveTarget(view: ProxyView, name: string, problems: TranslationProblem[]): Target | undefined {
  const proxyResource = `Proxy/${view.proxy.namespace}/${view.proxy.podName}`;
  const { host, port } = splitTarget(name);
  const fqdn = view.resolveHost(host, view.proxy.namespace);
  const service = view.service(fqdn);
  if (!service) {
    problems.push({ resource: proxyResource, message: `listener "${name}": no service ${fqdn} visible to namespace ${view.proxy.namespace}; the client gets "does not exist". Check the target host and the Service's exportTo.` });
    return undefined;
  }
  if (port === undefined) {
    if (service.ports.length !== 1) {
      problems.push({ resource: proxyResource, message: `listener "${name}": service ${fqdn} has ${service.ports.length} ports; name one in the target (xds:///${host}:PORT).` });
      return undefined;
    }
    return { name, service, port: service.ports[0] };
  }
  const servicePort = service.ports.find((p) => p.port === port);
  if (!servicePort) {
    problems.push({ resource: proxyResource, message: `listener "${name}": service ${fqdn} has no port ${port} (ports: ${service.ports.map((p) => p.port).join(", ")}).` });
    return undefined;
  }
  return { name, service, port: servicePort };
}

function apiListener(name: string): EnvoyJson {
  return {
    name,
    api_listener: {
      api_listener: typed(EnvoyType.hcm, {
        stat_prefix: name,
        rds: { config_source: adsConfigSource(), route_config_name: name },
        http_filters: [{ name: FilterName.router, typed_config: typed(EnvoyType.router) }],
      }),
    },
  };
}

function withoutFilterConfigs(route: EnvoyJson): EnvoyJson {
  const { typed_per_filter_config: _dropped, ...rest } = route;
  return rest;
}

function routeConfiguration(view: ProxyView, target: Target, problems: TranslationProblem[]): EnvoyJson {
  const { service, port } = target;
  const vs = view.virtualServiceFor(service.hostname);
  let routes: EnvoyJson[] = [];
  if (vs) {
    const scope = routeScope(view, port.port, ["mesh"], problems);
    routes = translateHttpRoutes(vs.resource, scope).map(withoutFilterConfigs);
  }
  const last = routes[routes.length - 1]?.match as EnvoyJson | undefined;
  const catchAll = last !== undefined && Object.keys(last).length === 1 && last.prefix === "/";
  if (!catchAll) routes.push(defaultRoute(outboundClusterName(port.port, undefined, service.hostname)));
  const domains = [...new Set([target.name, `${service.hostname}:${port.port}`, service.hostname])];
  return {
    name: target.name,
    virtual_hosts: [{ name: `${service.hostname}:${port.port}`, domains, routes }],
  };
}

/** Every cluster a route configuration's routes send to (plain and weighted). */
function referencedClusters(route: EnvoyJson): Set<string> {
  const out = new Set<string>();
  for (const vh of (route.virtual_hosts as EnvoyJson[]) ?? []) {
    for (const r of (vh.routes as EnvoyJson[]) ?? []) {
      const action = r.route as EnvoyJson | undefined;
      if (!action) continue;
      if (typeof action.cluster === "string") out.add(action.cluster);
      const weighted = action.weighted_clusters as { clusters?: { name: string }[] } | undefined;
      for (const c of weighted?.clusters ?? []) out.add(c.name);
    }
  }
  return out;
}

/** The resources a proxyless client gets for the listeners it asked for. */
export function translateProxyless(snapshot: MeshSnapshot, proxy: ProxyNode): TranslationResult {
  const view = proxyView(buildPushContext(snapshot), proxy);
  const problems: TranslationProblem[] = [];
  const listeners: EnvoyJson[] = [];
  const routes: EnvoyJson[] = [];
  const wanted = new Set<string>();
  for (const name of [...new Set(proxy.requestedListeners ?? [])].sort()) {
    const target = resolveTarget(view, name, problems);
    if (!target) continue;
    listeners.push(apiListener(name));
    const route = routeConfiguration(view, target, problems);
    routes.push(route);
    for (const c of referencedClusters(route)) wanted.add(c);
  }
  const clusters = buildOutboundClusters(view).filter((c) => wanted.has(String(c.name)));
  for (const name of wanted) {
    if (!clusters.some((c) => c.name === name)) {
      problems.push({ resource: `Proxy/${proxy.namespace}/${proxy.podName}`, message: `cluster ${name} is routed to but does not exist for this client (unknown subset or host?); calls routed there fail.` });
    }
  }
  return {
    resources: {
      listeners: listeners.sort(byName),
      routes: routes.sort(byName),
      clusters,
      endpoints: buildEndpoints(view, edsClusterNames(clusters)),
      secrets: [],
    },
    problems: [...view.problems, ...problems],
  };
}
