// Gateways: for a router proxy, the Gateway resources selecting it become bound listeners
// `0.0.0.0_<port>` (or `<bind>_<port>`), one per port with the servers on that port
// merged; HTTP servers route through `http.<port>`, terminated HTTPS servers through a
// route config of their own (per server, as Istio, so one server's hosts never leak into
// another's certificate), TLS passthrough by SNI from VirtualService `tls` routes, and TCP
// from VirtualService `tcp` routes.
import type { GatewayServer, ServerTLSSettings } from "../../api/kinds.ts";
import type { ProxyView, GatewayResource } from "./context.ts";
import type { EnvoyJson, TranslationProblem } from "./types.ts";
import { EnvoyType, FilterName, socketAddress, typed } from "./envoy-json.ts";
import type { HttpFilterSlots } from "./hcm.ts";
import { httpConnectionManager, listenerFilter, tcpProxy } from "./hcm.ts";
import { hostCovers, hostsIntersect } from "./hosts.ts";
import { dedupeDomains, translateHttpRoutes } from "./routes.ts";
import { routeScope } from "./scope.ts";
import { tcpRouteTargets, tlsRoutes } from "./tcp-routes.ts";

type ServerKind = "http" | "https" | "passthrough" | "tcp";

interface BoundServer {
  gateway: GatewayResource;
  /** `namespace/name` of the gateway, as VirtualServices name it. */
  gatewayName: string;
  server: GatewayServer;
  index: number;
  kind: ServerKind;
}

export interface GatewayOptions {
  httpFilters?: HttpFilterSlots;
}

function gatewayKey(g: GatewayResource): string {
  return `Gateway/${g.metadata.namespace ?? "default"}/${g.metadata.name}`;
}

const httpProtocols = new Set(["HTTP", "HTTP2", "GRPC", "GRPC-WEB"]);

/** Classifies a server, or explains why it cannot be served yet. */
function classify(server: GatewayServer): ServerKind | string {
  const protocol = server.port.protocol.toUpperCase();
  const mode = server.tls?.mode ?? "SIMPLE";
  if (httpProtocols.has(protocol)) return "http";
  if (protocol === "HTTPS" || protocol === "TLS") {
    if (mode === "PASSTHROUGH") return "passthrough";
    if (server.tls?.credentialName || server.tls?.credentialNames?.length) {
      return "tls.credentialName (certificates over SDS) is not supported yet; the server is skipped. Use serverCertificate and privateKey file paths for now";
    }
    if (mode !== "SIMPLE" && mode !== "MUTUAL") {
      return `tls.mode ${mode} is not supported yet; the server is skipped. Use SIMPLE, MUTUAL or PASSTHROUGH`;
    }
    if (!server.tls?.serverCertificate || !server.tls?.privateKey) {
      return `tls.mode ${mode} needs serverCertificate and privateKey; the server is skipped. Add both file paths`;
    }
    if (mode === "MUTUAL" && !server.tls.caCertificates) {
      return "tls.mode MUTUAL needs caCertificates to verify clients; the server is skipped. Add the CA file path";
    }
    return protocol === "HTTPS" ? "https" : "tcp";
  }
  if (protocol === "TCP" || protocol === "MONGO" || protocol === "REDIS" || protocol === "MYSQL") return "tcp";
  return `port.protocol ${server.port.protocol} is not supported; the server is skipped. Use HTTP, HTTPS, HTTP2, GRPC, TLS or TCP`;
}

export interface GatewayResult {
  listeners: EnvoyJson[];
  routes: EnvoyJson[];
}

export function buildGateways(view: ProxyView, problems: TranslationProblem[], options: GatewayOptions = {}): GatewayResult {
  // Servers grouped by listener (bind address + port), in gateway then server order.
  const byListener = new Map<string, { address: string; port: number; servers: BoundServer[] }>();
  for (const gateway of view.gateways) {
    const gatewayName = `${gateway.metadata.namespace ?? "default"}/${gateway.metadata.name}`;
    (gateway.spec.servers ?? []).forEach((server, index) => {
      const kind = classify(server);
      if (kind !== "http" && kind !== "https" && kind !== "passthrough" && kind !== "tcp") {
        problems.push({ resource: gatewayKey(gateway), message: `spec.servers[${index}]: ${kind}.` });
        return;
      }
      const address = server.bind ?? "0.0.0.0";
      const name = `${address}_${server.port.number}`;
      const entry = byListener.get(name) ?? { address, port: server.port.number, servers: [] };
      entry.servers.push({ gateway, gatewayName, server, index, kind });
      byListener.set(name, entry);
    });
  }

  const listeners: EnvoyJson[] = [];
  const routes: EnvoyJson[] = [];
  for (const [name, { address, port, servers }] of [...byListener.entries()].sort(([a], [b]) => (a < b ? -1 : 1))) {
    // Plaintext HTTP cannot share a port with TLS or TCP servers: the first kind wins.
    const plain = servers.filter((s) => s.kind === "http");
    const other = servers.filter((s) => s.kind !== "http");
    const kept = plain.length > 0 && servers[0].kind === "http" ? plain : other;
    for (const dropped of servers.filter((s) => !kept.includes(s))) {
      problems.push({
        resource: gatewayKey(dropped.gateway),
        message: `spec.servers[${dropped.index}]: port ${port} is already served as ${kept[0].kind.toUpperCase()} by another server; a port carries either plaintext HTTP or TLS/TCP. The server is skipped; use another port.`,
      });
    }
    // Each server contributes chains (and the route configs they reference); a chain whose
    // match an earlier chain already has is dropped with its route config.
    const parts: ChainPart[] = [];
    if (kept[0].kind === "http") {
      const routeName = `http.${port}`;
      parts.push({ owner: kept[0], chain: { filters: [gatewayHcm(port, routeName, options)] }, route: gatewayRouteConfig(view, routeName, port, kept, problems) });
    } else {
      for (const bound of kept) {
        if (bound.kind === "https") {
          const routeName = httpsRouteName(bound, port);
          parts.push({
            owner: bound,
            chain: tlsChain(bound, [gatewayHcm(port, routeName, options)]),
            route: gatewayRouteConfig(view, routeName, port, [bound], problems),
          });
        } else if (bound.kind === "passthrough") {
          for (const chain of passthroughChains(view, bound, port, problems)) parts.push({ owner: bound, chain });
        } else {
          const filter = gatewayTcpFilter(view, bound, port, problems);
          if (filter) parts.push({ owner: bound, chain: bound.server.tls ? tlsChain(bound, [filter]) : { filters: [filter] } });
        }
      }
    }
    const unique = withoutDuplicateMatches(parts, port, problems);
    if (unique.length === 0) continue; // Istio drops a listener nothing routes through.
    for (const part of unique) if (part.route) routes.push(part.route);
    const listener: EnvoyJson = { name, address: socketAddress(address, port) };
    // tls_inspector reads the SNI and tells TLS from plaintext for TLS chains.
    if (unique.some((p) => p.owner.server.tls && p.owner.kind !== "http")) listener.listener_filters = [listenerFilter("tls")];
    listener.filter_chains = unique.map((p) => p.chain);
    listener.traffic_direction = "OUTBOUND";
    listeners.push(listener);
  }
  return { listeners, routes };
}

interface ChainPart {
  owner: BoundServer;
  chain: EnvoyJson;
  /** The route configuration the chain's HCM references over RDS, if any. */
  route?: EnvoyJson;
}

/**
 * Envoy rejects a listener in which two filter chains have the same match (e.g. two TLS
 * servers for the same hosts on one port); the first keeps it, the others are reported.
 */
function withoutDuplicateMatches(parts: ChainPart[], port: number, problems: TranslationProblem[]): ChainPart[] {
  const seen = new Set<string>();
  const out: ChainPart[] = [];
  for (const part of parts) {
    const key = JSON.stringify(part.chain.filter_chain_match ?? {});
    if (seen.has(key)) {
      problems.push({
        resource: gatewayKey(part.owner.gateway),
        message: `spec.servers[${part.owner.index}]: port ${port}: an earlier server or tls route already matches the same connections (${key === "{}" ? "any" : key}); this one is not served. Give each TLS server distinct hosts.`,
      });
      continue;
    }
    seen.add(key);
    out.push(part);
  }
  return out;
}

function gatewayHcm(port: number, routeName: string, options: GatewayOptions): EnvoyJson {
  // Gateways are the edge: the peer address is the client's (Istio sets use_remote_address).
  return httpConnectionManager({ statPrefix: `outbound_0.0.0.0_${port}`, rds: routeName, filters: options.httpFilters, useRemoteAddress: true });
}

/** Istio's route name for a terminated HTTPS server: `https.<port>.<port name>.<gateway>.<ns>`. */
function httpsRouteName(bound: BoundServer, port: number): string {
  return `https.${port}.${bound.server.port.name}.${bound.gateway.metadata.name}.${bound.gateway.metadata.namespace ?? "default"}`;
}

/** SNI names a server answers to; none (match any) when it has `*`. */
function serverNames(server: GatewayServer): string[] {
  const hosts = server.hosts.map((h) => splitHost(h).host);
  if (hosts.includes("*")) return [];
  return [...new Set(hosts)].sort();
}

function tlsChain(bound: BoundServer, filters: EnvoyJson[]): EnvoyJson {
  const chain: EnvoyJson = {};
  const names = serverNames(bound.server);
  if (names.length > 0) chain.filter_chain_match = { server_names: names };
  chain.transport_socket = {
    name: FilterName.tlsTransport,
    typed_config: downstreamTlsContext(bound.server.tls as ServerTLSSettings, bound.kind === "https"),
  };
  chain.filters = filters;
  return chain;
}

const tlsVersions: Record<string, string> = {
  TLS_AUTO: "TLS_AUTO",
  TLSV1_0: "TLSv1_0",
  TLSV1_1: "TLSv1_1",
  TLSV1_2: "TLSv1_2",
  TLSV1_3: "TLSv1_3",
};

/** File-based DownstreamTlsContext for SIMPLE / MUTUAL servers. */
export function downstreamTlsContext(tls: ServerTLSSettings, http: boolean): EnvoyJson {
  const common: EnvoyJson = {
    tls_certificates: [
      { certificate_chain: { filename: tls.serverCertificate }, private_key: { filename: tls.privateKey } },
    ],
  };
  const params: EnvoyJson = {};
  if (tls.minProtocolVersion) params.tls_minimum_protocol_version = tlsVersions[tls.minProtocolVersion];
  if (tls.maxProtocolVersion) params.tls_maximum_protocol_version = tlsVersions[tls.maxProtocolVersion];
  if (tls.cipherSuites?.length) params.cipher_suites = [...tls.cipherSuites];
  if (Object.keys(params).length > 0) common.tls_params = params;
  if (tls.mode === "MUTUAL") {
    const validation: EnvoyJson = { trusted_ca: { filename: tls.caCertificates } };
    if (tls.subjectAltNames?.length) {
      validation.match_typed_subject_alt_names = tls.subjectAltNames.map((san) => ({
        san_type: san.includes("://") ? "URI" : "DNS",
        matcher: { exact: san },
      }));
    }
    common.validation_context = validation;
  }
  if (http) common.alpn_protocols = ["h2", "http/1.1"];
  const out: EnvoyJson = { common_tls_context: common };
  if (tls.mode === "MUTUAL") out.require_client_certificate = true;
  return typed(EnvoyType.downstreamTls, out);
}

/** A Gateway host `ns/host`: the namespace part restricts which VirtualServices may bind. */
function splitHost(entry: string): { namespace: string; host: string } {
  const slash = entry.indexOf("/");
  if (slash < 0) return { namespace: "*", host: entry };
  return { namespace: entry.slice(0, slash), host: entry.slice(slash + 1) };
}

function namespaceAllowed(pattern: string, gatewayNamespace: string, vsNamespace: string): boolean {
  if (pattern === "*") return true;
  if (pattern === ".") return vsNamespace === gatewayNamespace;
  return pattern === vsNamespace;
}

/** The narrower of two intersecting hosts: the one the virtual host is for. */
function narrower(a: string, b: string): string {
  return hostCovers(a, b) ? b : a;
}

/**
 * A gateway route configuration: for every server host and every VirtualService bound to
 * the server's gateway whose hosts intersect it, a virtual host per intersecting host,
 * with the VirtualService's routes (several VirtualServices on one host are concatenated
 * in age order, as Istio merges gateway routes). Nothing bound → no virtual hosts (404).
 */
function gatewayRouteConfig(
  view: ProxyView,
  name: string,
  port: number,
  servers: BoundServer[],
  problems: TranslationProblem[],
): EnvoyJson {
  const hosts = new Map<string, { routes: EnvoyJson[]; redirect: boolean; seen: Set<string> }>();
  for (const bound of servers) {
    const gatewayNamespace = bound.gateway.metadata.namespace ?? "default";
    const scope = routeScope(view, port, [bound.gatewayName], problems);
    for (const vs of view.virtualServicesForGateway(bound.gatewayName)) {
      const vsNamespace = vs.resource.metadata.namespace ?? "default";
      for (const serverHost of bound.server.hosts) {
        const allowed = splitHost(serverHost);
        if (!namespaceAllowed(allowed.namespace, gatewayNamespace, vsNamespace)) continue;
        for (const vsHost of vs.hosts) {
          if (!hostsIntersect(vsHost, allowed.host)) continue;
          const host = narrower(vsHost, allowed.host);
          const entry = hosts.get(host) ?? { routes: [], redirect: false, seen: new Set<string>() };
          // One VirtualService contributes its routes to a host once, however many server hosts match.
          const vsId = `${vsNamespace}/${vs.resource.metadata.name}`;
          if (!entry.seen.has(vsId)) {
            entry.seen.add(vsId);
            entry.routes.push(...translateHttpRoutes(vs.resource, scope));
          }
          if (bound.server.tls?.httpsRedirect) entry.redirect = true;
          hosts.set(host, entry);
        }
      }
    }
  }
  const virtualHosts: EnvoyJson[] = [];
  for (const [host, entry] of [...hosts.entries()].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const domains = host === "*" ? ["*"] : [host, `${host}:${port}`];
    // httpsRedirect: every plaintext request gets a 301 to https. Istio says this with
    // `require_tls: ALL`; on a plaintext-only route config that is exactly one catch-all
    // redirect route, which needs no extra field in the proxy.
    const routes = entry.redirect
      ? [{ name: "https_redirect", match: { prefix: "/" }, redirect: { https_redirect: true, response_code: "MOVED_PERMANENTLY" } }]
      : entry.routes;
    virtualHosts.push({ name: `${host}:${port}`, domains, routes });
  }
  return { name, virtual_hosts: dedupeDomains(virtualHosts) };
}

/** TLS passthrough: a chain per SNI set from VirtualService `tls` routes bound to the gateway. */
function passthroughChains(view: ProxyView, bound: BoundServer, port: number, problems: TranslationProblem[]): EnvoyJson[] {
  const chains: EnvoyJson[] = [];
  const scope = routeScope(view, port, [bound.gatewayName], problems);
  const gatewayNamespace = bound.gateway.metadata.namespace ?? "default";
  const claimed = new Set<string>();
  for (const vs of view.virtualServicesForGateway(bound.gatewayName)) {
    const vsNamespace = vs.resource.metadata.namespace ?? "default";
    const serverHosts = bound.server.hosts
      .map(splitHost)
      .filter((h) => namespaceAllowed(h.namespace, gatewayNamespace, vsNamespace))
      .map((h) => h.host);
    for (const route of tlsRoutes(vs.resource, scope)) {
      // Envoy rejects two chains with the same match: the first route naming an SNI keeps it.
      const sni = route.sniHosts.filter((s) => !claimed.has(s) && serverHosts.some((h) => hostsIntersect(h, s)));
      sni.forEach((s) => claimed.add(s));
      if (sni.length === 0 || route.targets.length === 0) continue;
      const stat = route.targets[0].name;
      chains.push({
        filter_chain_match: { server_names: [...sni].sort() },
        filters: [tcpProxy(stat, route.targets)],
      });
    }
  }
  return chains;
}

/** TCP server: the first applicable `tcp` route of the VirtualServices bound to the gateway. */
function gatewayTcpFilter(view: ProxyView, bound: BoundServer, port: number, problems: TranslationProblem[]): EnvoyJson | undefined {
  const scope = routeScope(view, port, [bound.gatewayName], problems);
  for (const vs of view.virtualServicesForGateway(bound.gatewayName)) {
    const targets = tcpRouteTargets(vs.resource, scope);
    if (targets && targets.length > 0) return tcpProxy(targets[0].name, targets);
  }
  return undefined;
}
