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
import { PLAINTEXT_HTTP_ALPN, SpecialCluster, socketAddress } from "./envoy-json.ts";
import type { HttpFilterSlots } from "./hcm.ts";
import { httpConnectionManager, listenerFilter, tcpProxy } from "./hcm.ts";
import { protocolFamily } from "./listeners.ts";

export const VIRTUAL_INBOUND_PORT = 15006;

/** What one inbound chain serves: an HTTP or TCP port, or one half of a sniffed port. */
export type InboundChainKind = "http" | "tcp" | "sniffed-http" | "sniffed-tcp";

export interface InboundOptions {
  httpFilters?: HttpFilterSlots;
  /**
   * Decorates each port's filter chain (e.g. mTLS transport_socket, network RBAC); called
   * in port order with what the chain serves. May return several chains (PERMISSIVE mTLS
   * serves a TLS and a plaintext chain per port).
   */
  decorateChain?: (chain: EnvoyJson, port: number, kind: InboundChainKind) => EnvoyJson | EnvoyJson[];
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


/**
 * Istio's INTERCEPTION_MODE node metadata. `NONE` means nothing is captured (the local
 * runtime's process mode): inbound traffic arrives on the workload ports themselves.
 */
export function interceptionNone(view: ProxyView): boolean {
  return view.proxy.metadata.INTERCEPTION_MODE === "NONE";
}

/** The filter chains serving one workload port (matched on destination_port when captured). */
function portChains(port: number, family: "http" | "tcp" | "sniffed", options: InboundOptions, captured: boolean): EnvoyJson[] {
  const cluster = clusterName("inbound", port);
  const hcm = (): EnvoyJson =>
    httpConnectionManager({
      statPrefix: `inbound_0.0.0.0_${port}`,
      routeConfig: inboundRouteConfig(port, cluster),
      filters: options.httpFilters,
    });
  const tcp = (): EnvoyJson => tcpProxy(cluster, cluster);
  const decorate = (chain: EnvoyJson, kind: InboundChainKind): EnvoyJson[] => {
    const out = options.decorateChain ? options.decorateChain(chain, port, kind) : chain;
    return Array.isArray(out) ? out : [out];
  };
  const match = (extra: EnvoyJson = {}): EnvoyJson => {
    const m: EnvoyJson = { ...(captured ? { destination_port: port } : {}), ...extra };
    return Object.keys(m).length > 0 ? { filter_chain_match: m } : {};
  };
  if (family === "http") return decorate({ name: cluster, ...match(), filters: [hcm()] }, "http");
  if (family === "tcp") return decorate({ name: cluster, ...match(), filters: [tcp()] }, "tcp");
  return [
    ...decorate({ name: `${cluster}-http`, ...match({ application_protocols: [...PLAINTEXT_HTTP_ALPN] }), filters: [hcm()] }, "sniffed-http"),
    ...decorate({ name: `${cluster}-tcp`, ...match(), filters: [tcp()] }, "sniffed-tcp"),
  ];
}

/** Where a workload port is bound when nothing is captured: Sidecar ingress bind, else the endpoint's address. */
function bindAddress(view: ProxyView, port: number): string {
  const ingress = view.sidecar?.spec.ingress?.find((l) => l.port.number === port);
  if (ingress?.bind) return ingress.bind;
  const own = view.ownEndpoints.find((ep) => ep.port === port);
  return own?.address ?? view.proxy.ipAddresses[0] ?? "0.0.0.0";
}

/**
 * The inbound listeners: `virtualInbound` when traffic is captured; with
 * INTERCEPTION_MODE NONE one bound listener `<address>_<port>` per workload port instead
 * (as Istio does for uncaptured sidecars).
 */
export function buildInbound(view: ProxyView, options: InboundOptions = {}): EnvoyJson[] {
  const ports = inboundPorts(view);
  if (interceptionNone(view)) {
    return ports.map(({ port, family }) => {
      const address = bindAddress(view, port);
      const listener: EnvoyJson = { name: `${address}_${port}`, address: socketAddress(address, port) };
      const chains = portChains(port, family, options, false);
      // Chains told apart by TLS (mTLS decorations) need tls_inspector.
      const byTransport = chains.some((c) => (c.filter_chain_match as EnvoyJson | undefined)?.transport_protocol !== undefined);
      const filters = [...(byTransport ? [listenerFilter("tls")] : []), ...(family === "sniffed" ? [listenerFilter("http")] : [])];
      if (filters.length > 0) listener.listener_filters = filters;
      listener.filter_chains = chains;
      listener.traffic_direction = "INBOUND";
      return listener;
    });
  }
  return [
    {
      name: "virtualInbound",
      address: socketAddress("0.0.0.0", VIRTUAL_INBOUND_PORT),
      use_original_dst: true,
      traffic_direction: "INBOUND",
      // tls_inspector first so that mTLS chains (security issue) can match on transport;
      // http_inspector for sniffed ports.
      listener_filters: [listenerFilter("tls"), listenerFilter("http")],
      filter_chains: ports.flatMap(({ port, family }) => portChains(port, family, options, true)),
      default_filter_chain: {
        name: "virtualInbound-passthrough",
        filters: [tcpProxy(SpecialCluster.inboundPassthrough, SpecialCluster.inboundPassthrough)],
      },
    },
  ];
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
