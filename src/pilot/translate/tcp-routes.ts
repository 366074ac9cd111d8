// VirtualService `tcp` and `tls` sections → tcp_proxy targets. Istio uses the first
// route whose match applies (no match = applies); its destinations become the
// tcp_proxy's cluster or weighted clusters.
import type { RouteDestination, TCPRoute, TLSRoute } from "../../api/kinds.ts";
import type { Resource } from "../../api/types.ts";
import type { RouteScope } from "./routes.ts";
import { outboundClusterName, vsKey } from "./routes.ts";
import { matchApplies } from "./route-match.ts";

export interface WeightedTarget {
  name: string;
  weight: number;
}

export function destinationsToTargets(
  destinations: readonly RouteDestination[],
  vs: Resource<"VirtualService">,
  scope: RouteScope,
  where: string,
): WeightedTarget[] {
  const namespace = vs.metadata.namespace ?? "default";
  const live = destinations.length > 1 ? destinations.filter((d) => d.weight !== 0) : destinations;
  return live.map((d, i) => {
    const hostname = scope.resolveHost(d.destination.host, namespace);
    const service = scope.findService(hostname);
    if (!service) {
      scope.problem(vsKey(vs), `${where}.route[${i}]: destination host "${d.destination.host}" is not a known or visible service; connections will fail. Fix the host or add a Service/ServiceEntry.`);
    }
    const port =
      d.destination.port?.number ?? (service && service.ports.length === 1 ? service.ports[0].port : scope.port);
    return { name: outboundClusterName(port, d.destination.subset, hostname), weight: d.weight ?? 100 };
  });
}

/** The targets of the first applicable `tcp` route of a VirtualService, if any. */
export function tcpRouteTargets(vs: Resource<"VirtualService">, scope: RouteScope): WeightedTarget[] | undefined {
  const namespace = vs.metadata.namespace ?? "default";
  const routes: TCPRoute[] = vs.spec.tcp ?? [];
  for (let i = 0; i < routes.length; i++) {
    const route = routes[i];
    const applies = !route.match || route.match.length === 0 || route.match.some((m) => matchApplies(m, scope, namespace));
    if (!applies || !route.route || route.route.length === 0) continue;
    const targets = destinationsToTargets(route.route, vs, scope, `spec.tcp[${i}]`);
    if (targets.length > 0) return targets;
  }
  return undefined;
}

/** Applicable `tls` routes of a VirtualService with their SNI hosts, in order. */
export function tlsRoutes(
  vs: Resource<"VirtualService">,
  scope: RouteScope,
): { sniHosts: string[]; targets: WeightedTarget[] }[] {
  const namespace = vs.metadata.namespace ?? "default";
  const out: { sniHosts: string[]; targets: WeightedTarget[] }[] = [];
  const routes: TLSRoute[] = vs.spec.tls ?? [];
  routes.forEach((route, i) => {
    if (!route.route || route.route.length === 0) return;
    const sniHosts: string[] = [];
    for (const match of route.match ?? []) {
      if (!matchApplies(match, scope, namespace)) continue;
      for (const sni of match.sniHosts ?? []) if (!sniHosts.includes(sni)) sniHosts.push(sni);
    }
    if (sniHosts.length === 0) return;
    out.push({ sniHosts, targets: destinationsToTargets(route.route, vs, scope, `spec.tls[${i}]`) });
  });
  return out;
}
