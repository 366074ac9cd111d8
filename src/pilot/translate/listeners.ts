// Sidecar outbound listeners and their route configurations: one listener per service
// port (HTTP ports share `0.0.0.0_<port>` with RDS route config `<port>`, TCP ports get
// `<vip>_<port>` with tcp_proxy), `virtualOutbound` on 15001 catching everything the
// capture sends, and the HTTP_PROXY listener of the local runtime's process mode.
import type { MeshService, Protocol } from "../../registry/types.ts";
import type { ProxyView } from "./context.ts";
import type { EnvoyJson, TranslationProblem } from "./types.ts";
import { PLAINTEXT_HTTP_ALPN, SpecialCluster, socketAddress } from "./envoy-json.ts";
import { httpConnectionManager, listenerFilter, tcpProxy } from "./hcm.ts";
import type { HttpFilterSlots } from "./hcm.ts";
import { serviceDomains } from "./hosts.ts";
import { dedupeDomains, defaultRoute, fallbackVirtualHost, outboundClusterName, translateHttpRoutes } from "./routes.ts";
import { routeScope } from "./scope.ts";
import { tcpRouteTargets, tlsRoutes } from "./tcp-routes.ts";

export const VIRTUAL_OUTBOUND_PORT = 15001;
/** Route configuration name of the HTTP_PROXY listener (Istio's). */
export const HTTP_PROXY_ROUTE = "http_proxy";

export type ProtocolFamily = "http" | "tcp" | "sniffed" | "udp";

/** How the outbound side treats a port of this protocol. */
export function protocolFamily(protocol: Protocol): ProtocolFamily {
  switch (protocol) {
    case "HTTP":
    case "HTTP2":
    case "GRPC":
    case "GRPC-Web":
      return "http";
    case "Unsupported":
      return "sniffed";
    case "UDP":
      return "udp";
    default:
      return "tcp";
  }
}

export interface OutboundResult {
  listeners: EnvoyJson[];
  routes: EnvoyJson[];
}

interface PortGroup {
  port: number;
  http: MeshService[];
  sniffed: MeshService[];
  tcp: MeshService[];
}

function groupByPort(services: readonly MeshService[]): PortGroup[] {
  const groups = new Map<number, PortGroup>();
  for (const service of services) {
    for (const p of service.ports) {
      const family = protocolFamily(p.protocol);
      if (family === "udp") continue; // Envoy listeners here are TCP only.
      const group = groups.get(p.port) ?? { port: p.port, http: [], sniffed: [], tcp: [] };
      group[family].push(service);
      groups.set(p.port, group);
    }
  }
  return [...groups.values()].sort((a, b) => a.port - b.port);
}

/** Options from the translate entry point: filter slots contributed by other concerns. */
export interface OutboundOptions {
  httpFilters?: HttpFilterSlots;
}

export function buildOutbound(view: ProxyView, problems: TranslationProblem[], options: OutboundOptions = {}): OutboundResult {
  return { listeners: buildOutboundListeners(view, problems, options), routes: buildOutboundRoutes(view, problems) };
}

/**
 * The route configurations the outbound listeners name: `<port>` for each port with
 * HTTP services, and `http_proxy` when the proxy has an HTTP_PROXY port. Apart from the
 * listeners because they are the bulk of a proxy's config and only depend on what the
 * proxy sees (its scope), so proxies of one scope can share them.
 */
export function buildOutboundRoutes(view: ProxyView, problems: TranslationProblem[]): EnvoyJson[] {
  const routes: EnvoyJson[] = [];
  for (const group of groupByPort(view.services)) {
    const httpLike = [...group.http, ...group.sniffed];
    // Same rule as the listeners: a port with HTTP services has an HCM naming route `<port>`.
    if (httpLike.length > 0) routes.push(outboundRouteConfig(view, group.port, httpLike, problems));
  }
  if (httpProxyPortOf(view) !== undefined) routes.push(httpProxyRouteConfig(view, problems));
  return routes;
}

/** The outbound listeners (see the file comment); their route configurations come from buildOutboundRoutes. */
export function buildOutboundListeners(view: ProxyView, problems: TranslationProblem[], options: OutboundOptions = {}): EnvoyJson[] {
  const listeners: EnvoyJson[] = [];
  const vipOwners = new Map<string, MeshService>();
  for (const group of groupByPort(view.services)) {
    const httpLike = [...group.http, ...group.sniffed];
    // TCP services with a VIP get their own `<vip>_<port>` listener; without one they
    // must share the wildcard listener, which only works when nothing else claims it.
    const wildcardTcp: MeshService[] = [];
    for (const service of group.tcp) {
      const vips = ipAddresses(service);
      if (vips.length === 0) {
        wildcardTcp.push(service);
        continue;
      }
      for (const vip of vips) {
        const name = `${vip}_${group.port}`;
        const owner = vipOwners.get(name);
        if (owner) {
          // Two services claiming one address and port cannot both be reached.
          problems.push({
            resource: service.origin,
            message: `port ${group.port}: address ${vip} is already used by ${owner.hostname} (${owner.origin}); ${service.hostname} gets no listener there. Give the services different addresses or ports.`,
          });
          continue;
        }
        vipOwners.set(name, service);
        listeners.push(tcpListener(view, service, name, vip, group.port, problems));
      }
    }
    if (httpLike.length === 0 && wildcardTcp.length > 0) {
      const [first, ...rest] = wildcardTcp;
      reportConflicts(rest, first, group.port, problems);
      listeners.push(tcpListener(view, first, `0.0.0.0_${group.port}`, "0.0.0.0", group.port, problems));
      continue;
    }
    if (httpLike.length === 0) continue;

    if (wildcardTcp.length > 0) reportConflicts(wildcardTcp, httpLike[0], group.port, problems);

    const hcm = httpConnectionManager({
      statPrefix: `outbound_0.0.0.0_${group.port}`,
      rds: String(group.port),
      filters: options.httpFilters,
    });
    const listener: EnvoyJson = {
      name: `0.0.0.0_${group.port}`,
      address: socketAddress("0.0.0.0", group.port),
    };
    if (group.sniffed.length === 0) {
      listener.filter_chains = [{ filters: [hcm] }];
    } else {
      // Protocol sniffing: http_inspector tells HTTP from anything else. HTTP goes to the
      // route config; other bytes are TCP-proxied to the sniffed service (by VIP when it
      // has one, so each service keeps its own fallback).
      const chains: EnvoyJson[] = [];
      for (const service of group.sniffed) {
        const vips = ipAddresses(service);
        if (vips.length === 0) continue;
        const ranges = vips.map(cidr);
        chains.push({ filter_chain_match: { prefix_ranges: ranges, application_protocols: [...PLAINTEXT_HTTP_ALPN] }, filters: [hcm] });
        chains.push({ filter_chain_match: { prefix_ranges: ranges }, filters: [tcpFilterFor(view, service, group.port, problems)] });
      }
      chains.push({ filter_chain_match: { application_protocols: [...PLAINTEXT_HTTP_ALPN] }, filters: [hcm] });
      const noVip = group.sniffed.filter((s) => ipAddresses(s).length === 0);
      if (noVip.length > 0) {
        reportConflicts(noVip.slice(1), noVip[0], group.port, problems);
        chains.push({ filters: [tcpFilterFor(view, noVip[0], group.port, problems)] });
      }
      listener.listener_filters = [listenerFilter("http")];
      listener.filter_chains = chains;
    }
    // Traffic reaches these listeners through virtualOutbound's original-destination hand-off.
    listener.bind_to_port = false;
    listener.traffic_direction = "OUTBOUND";
    listeners.push(listener);
  }
  // Nothing is captured under INTERCEPTION_MODE NONE: no connection would reach 15001.
  if (view.proxy.metadata.INTERCEPTION_MODE !== "NONE") listeners.push(virtualOutbound(view.outboundTrafficPolicy));
  const httpProxyPort = httpProxyPortOf(view);
  if (httpProxyPort !== undefined) listeners.push(httpProxyListener(httpProxyPort, options.httpFilters));
  return listeners;
}

function reportConflicts(losers: MeshService[], winner: MeshService, port: number, problems: TranslationProblem[]): void {
  for (const loser of losers) {
    problems.push({
      resource: loser.origin,
      message: `port ${port}: ${loser.hostname} has no virtual IP and shares the wildcard listener 0.0.0.0_${port} with ${winner.hostname}; its TCP traffic cannot be told apart and is not proxied. Give it an address (ServiceEntry addresses) or another port.`,
    });
  }
}

function ipAddresses(service: MeshService): string[] {
  return service.addresses.filter((a) => !a.includes("/") && a !== "0.0.0.0");
}

function cidr(address: string): EnvoyJson {
  return { address_prefix: address, prefix_len: address.includes(":") ? 128 : 32 };
}

/**
 * A TCP service listener. For TLS and HTTPS ports whose mesh VirtualService has `tls`
 * routes, each route gets a chain matched on its SNI hosts (tls_inspector reads the
 * ClientHello) and the service's own tcp_proxy chain comes last, for other SNIs.
 */
function tcpListener(
  view: ProxyView,
  service: MeshService,
  name: string,
  address: string,
  port: number,
  problems: TranslationProblem[],
): EnvoyJson {
  const fallback = { filters: [tcpFilterFor(view, service, port, problems)] };
  const sniChains = sniChainsFor(view, service, port, problems);
  const listener: EnvoyJson = { name, address: socketAddress(address, port) };
  if (sniChains.length > 0) listener.listener_filters = [listenerFilter("tls")];
  listener.filter_chains = [...sniChains, fallback];
  listener.bind_to_port = false;
  listener.traffic_direction = "OUTBOUND";
  return listener;
}

function sniChainsFor(view: ProxyView, service: MeshService, port: number, problems: TranslationProblem[]): EnvoyJson[] {
  const protocol = service.ports.find((p) => p.port === port)?.protocol;
  if (protocol !== "TLS" && protocol !== "HTTPS") return [];
  const vs = view.virtualServiceFor(service.hostname);
  if (!vs) return [];
  const chains: EnvoyJson[] = [];
  const claimed = new Set<string>();
  for (const route of tlsRoutes(vs.resource, routeScope(view, port, ["mesh"], problems))) {
    // Envoy rejects two chains with the same match: the first route naming an SNI keeps it.
    const names = route.sniHosts.filter((h) => !claimed.has(h)).sort();
    names.forEach((h) => claimed.add(h));
    if (names.length === 0 || route.targets.length === 0) continue;
    chains.push({ filter_chain_match: { server_names: names }, filters: [tcpProxy(route.targets[0].name, route.targets)] });
  }
  return chains;
}

/** tcp_proxy for a service port: the mesh VirtualService's tcp route if one applies, else the service. */
function tcpFilterFor(view: ProxyView, service: MeshService, port: number, problems: TranslationProblem[]): EnvoyJson {
  const own = outboundClusterName(port, undefined, service.hostname);
  const vs = view.virtualServiceFor(service.hostname);
  const targets = vs ? tcpRouteTargets(vs.resource, routeScope(view, port, ["mesh"], problems)) : undefined;
  return tcpProxy(own, targets ?? own);
}

/** The virtual hosts of visible services on `port`, with routes from their VirtualServices. */
function serviceVirtualHost(
  view: ProxyView,
  service: MeshService,
  port: number,
  domains: string[],
  problems: TranslationProblem[],
): EnvoyJson {
  const vs = view.virtualServiceFor(service.hostname);
  let routes = vs ? translateHttpRoutes(vs.resource, routeScope(view, port, ["mesh"], problems)) : [];
  if (routes.length === 0) {
    // No VirtualService, or none of its routes apply to this proxy: Istio's default route.
    const scope = routeScope(view, port, ["mesh"], problems);
    routes = [defaultRoute(outboundClusterName(port, undefined, service.hostname), scope.hashPolicy(service.hostname, undefined, port))];
  }
  return { name: `${service.hostname}:${port}`, domains, routes };
}

function sortVirtualHosts(hosts: EnvoyJson[]): EnvoyJson[] {
  return [...hosts].sort((a, b) => (String(a.name) < String(b.name) ? -1 : String(a.name) > String(b.name) ? 1 : 0));
}

/** Route configuration `<port>`: one virtual host per HTTP service on the port, then the fallback. */
export function outboundRouteConfig(
  view: ProxyView,
  port: number,
  services: readonly MeshService[],
  problems: TranslationProblem[],
): EnvoyJson {
  const hosts = services.map((service) =>
    serviceVirtualHost(view, service, port, serviceDomains(service, port, view.proxy.namespace, view.ctx.mesh.domain), problems),
  );
  return {
    name: String(port),
    virtual_hosts: [...dedupeDomains(sortVirtualHosts(hosts)), fallbackVirtualHost(view.outboundTrafficPolicy)],
  };
}

/**
 * Istio's virtualOutbound: the capture target. use_original_dst hands each connection to
 * the listener of its original destination; what no listener claims takes the default
 * chain, to PassthroughCluster (ALLOW_ANY) or BlackHoleCluster (REGISTRY_ONLY).
 */
export function virtualOutbound(mode: "ALLOW_ANY" | "REGISTRY_ONLY"): EnvoyJson {
  const cluster = mode === "ALLOW_ANY" ? SpecialCluster.passthrough : SpecialCluster.blackHole;
  return {
    name: "virtualOutbound",
    address: socketAddress("0.0.0.0", VIRTUAL_OUTBOUND_PORT),
    use_original_dst: true,
    traffic_direction: "OUTBOUND",
    filter_chains: [],
    default_filter_chain: { name: "virtualOutbound-catchall-tcp", filters: [tcpProxy(cluster, cluster)] },
  };
}

/** The HTTP_PROXY port from node metadata (Istio's ProxyConfig httpProxyPort), if set. */
export function httpProxyPortOf(view: ProxyView): number | undefined {
  const raw = view.proxy.metadata.HTTP_PROXY_PORT;
  if (raw === undefined || raw === null || raw === "") return undefined;
  const port = Number(raw);
  return Number.isInteger(port) && port > 0 && port < 65536 ? port : undefined;
}

function httpProxyListener(port: number, filters: HttpFilterSlots | undefined): EnvoyJson {
  return {
    name: `127.0.0.1_${port}`,
    address: socketAddress("127.0.0.1", port),
    filter_chains: [
      {
        filters: [
          httpConnectionManager({ statPrefix: `outbound_127.0.0.1_${port}`, rds: HTTP_PROXY_ROUTE, filters, allowAbsoluteUrl: true }),
        ],
      },
    ],
    traffic_direction: "OUTBOUND",
  };
}

/**
 * Route configuration `http_proxy`: every visible HTTP service on every port. Apps behind
 * HTTP_PROXY send `Host: name:port`, so domains carry the port; the port-less forms are
 * kept only for port 80, where clients omit it (otherwise two ports of one service would
 * claim the same domain).
 */
export function httpProxyRouteConfig(view: ProxyView, problems: TranslationProblem[]): EnvoyJson {
  const hosts: EnvoyJson[] = [];
  for (const group of groupByPort(view.services)) {
    for (const service of [...group.http, ...group.sniffed]) {
      const all = serviceDomains(service, group.port, view.proxy.namespace, view.ctx.mesh.domain);
      const domains = group.port === 80 ? all : all.filter((d) => d.endsWith(`:${group.port}`));
      hosts.push(serviceVirtualHost(view, service, group.port, domains, problems));
    }
  }
  return {
    name: HTTP_PROXY_ROUTE,
    virtual_hosts: [...dedupeDomains(sortVirtualHosts(hosts)), fallbackVirtualHost(view.outboundTrafficPolicy)],
  };
}
