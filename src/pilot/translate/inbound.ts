// Sidecar inbound: `virtualInbound` on 15006, where capture sends traffic addressed to
// the workload. One filter chain per workload port, chosen by the original destination
// port: HTTP ports run an HCM with an inline route config sending everything to
// `inbound|<port>||`; other ports are TCP-proxied to it; anything else passes through
// to InboundPassthroughCluster. Security (transport_socket for mTLS, RBAC) and telemetry
// hook in through the options, without editing this file.
import type { Endpoint, Protocol } from "../../registry/types.ts";
import type { ProxyView } from "./context.ts";
import { clusterName } from "./context.ts";
import type { EnvoyJson } from "./types.ts";
import { SpecialCluster, socketAddress } from "./envoy-json.ts";
import type { HttpFilterSlots } from "./hcm.ts";
import { httpConnectionManager, listenerFilter, tcpProxy } from "./hcm.ts";
import { protocolFamily } from "./listeners.ts";

export const VIRTUAL_INBOUND_PORT = 15006;

export interface InboundOptions {
  httpFilters?: HttpFilterSlots;
  /** Decorates each port's filter chain (e.g. mTLS transport_socket); called in port order. */
  decorateChain?: (chain: EnvoyJson, port: number) => EnvoyJson;
}

/**
 * The workload ports behind this proxy: each of its own endpoints' target ports (the
 * port traffic is addressed to), once. A port two services declare with different
 * protocols is treated as TCP, which serves both. Sniffed ports are served as HTTP when
 * http_inspector sees HTTP, else TCP.
 */
export function inboundPorts(view: ProxyView): { port: number; family: "http" | "tcp" | "sniffed" }[] {
  const byPort = new Map<number, "http" | "tcp" | "sniffed">();
  // A Sidecar resource's ingress listeners replace the registry's ports (Istio; the
  // cluster builder does the same for inbound clusters).
  const ingress = view.sidecar?.spec.ingress ?? [];
  if (ingress.length > 0) {
    for (const listener of ingress) {
      const family = protocolFamily(protocolFromName(listener.port.protocol));
      byPort.set(listener.port.number, family === "udp" ? "tcp" : family);
    }
    return [...byPort.entries()].sort(([a], [b]) => a - b).map(([port, family]) => ({ port, family }));
  }
  for (const ep of view.ownEndpoints) {
    const family = familyOf(view, ep);
    if (family === undefined) continue;
    const seen = byPort.get(ep.port);
    byPort.set(ep.port, seen === undefined || seen === family ? family : "tcp");
  }
  return [...byPort.entries()].sort(([a], [b]) => a - b).map(([port, family]) => ({ port, family }));
}

function protocolFromName(name: string | undefined): Protocol {
  const upper = (name ?? "").toUpperCase();
  if (upper === "HTTP" || upper === "HTTP2" || upper === "GRPC" || upper === "TCP" || upper === "TLS" || upper === "HTTPS") return upper;
  return "TCP";
}

function familyOf(view: ProxyView, ep: Endpoint): "http" | "tcp" | "sniffed" | undefined {
  const services = view.ctx.servicesByHost.get(ep.hostname) ?? [];
  const servicePort = services.flatMap((s) => s.ports).find((p) => p.port === ep.servicePort);
  if (!servicePort) return undefined;
  const family = protocolFamily(servicePort.protocol);
  return family === "udp" ? undefined : family;
}

const SNIFFED_HTTP_ALPN = ["http/1.1", "h2c"];

export function buildInbound(view: ProxyView, options: InboundOptions = {}): EnvoyJson {
  const chains: EnvoyJson[] = [];
  for (const { port, family } of inboundPorts(view)) {
    const cluster = clusterName("inbound", port);
    const hcm = (): EnvoyJson =>
      httpConnectionManager({
        statPrefix: `inbound_0.0.0.0_${port}`,
        routeConfig: inboundRouteConfig(port, cluster),
        filters: options.httpFilters,
      });
    const tcp = (): EnvoyJson => tcpProxy(cluster, cluster);
    const decorate = options.decorateChain ?? ((c: EnvoyJson) => c);
    if (family === "http") {
      chains.push(decorate({ name: cluster, filter_chain_match: { destination_port: port }, filters: [hcm()] }, port));
    } else if (family === "tcp") {
      chains.push(decorate({ name: cluster, filter_chain_match: { destination_port: port }, filters: [tcp()] }, port));
    } else {
      chains.push(
        decorate(
          { name: `${cluster}-http`, filter_chain_match: { destination_port: port, application_protocols: SNIFFED_HTTP_ALPN }, filters: [hcm()] },
          port,
        ),
      );
      chains.push(decorate({ name: `${cluster}-tcp`, filter_chain_match: { destination_port: port }, filters: [tcp()] }, port));
    }
  }
  return {
    name: "virtualInbound",
    address: socketAddress("0.0.0.0", VIRTUAL_INBOUND_PORT),
    use_original_dst: true,
    traffic_direction: "INBOUND",
    // tls_inspector first so that mTLS chains (security issue) can match on transport;
    // http_inspector for sniffed ports.
    listener_filters: [listenerFilter("tls"), listenerFilter("http")],
    filter_chains: chains,
    default_filter_chain: {
      name: "virtualInbound-passthrough",
      filters: [tcpProxy(SpecialCluster.inboundPassthrough, SpecialCluster.inboundPassthrough)],
    },
  };
}

/** Inline route configuration of an inbound HTTP port: everything to the app's cluster. */
export function inboundRouteConfig(port: number, cluster: string): EnvoyJson {
  return {
    name: cluster,
    virtual_hosts: [
      {
        name: `inbound|http|${port}`,
        domains: ["*"],
        routes: [{ name: "default", match: { prefix: "/" }, route: { cluster, timeout: "0s" } }],
      },
    ],
  };
}
