// How the local ingress gateway's listeners map to host ports. In Kubernetes the
// istio-ingressgateway Service exposes port 80 and the gateway pod listens on 8080
// (unprivileged); Istio binds the Gateway's port-80 server on the Service's target
// port. `skiff up` does the same with a fixed rule, applied to the translation of the
// local gateway only (node metadata SKIFF_GATEWAY_HTTP_PORT marks it):
//   Gateway port 80 → the HTTP port (`--port`, 8080 by default);
//   other ports below 1024 → port + 8000 (443 → 8443), as Istio's default gateway Service;
//   ports from 1024 up → the same port.
// Listeners bind 127.0.0.1 unless the Gateway server names a `bind` address: a local mesh
// is for this machine. Before any Gateway applies, the gateway still answers on the HTTP
// port, with 404 (no route), so a user sees the gateway is up but nothing is routed.
import type { TranslateFn } from "../pilot/index.ts";
import type { EnvoyJson, ProxyNode, TranslationResult } from "../pilot/translate/index.ts";

export const GATEWAY_HTTP_PORT_KEY = "SKIFF_GATEWAY_HTTP_PORT";

export function hostPortFor(gatewayPort: number, httpPort: number): number {
  if (gatewayPort === 80) return httpPort;
  if (gatewayPort < 1024) return gatewayPort + 8000;
  return gatewayPort;
}

function socketAddressOf(listener: EnvoyJson): { address?: string; port_value?: number } | undefined {
  const address = listener.address as { socket_address?: { address?: string; port_value?: number } } | undefined;
  return address?.socket_address;
}

/** A listener that answers every request with 404: the gateway's HTTP port before any Gateway is applied. */
export function notRoutedListener(httpPort: number): EnvoyJson {
  return {
    name: `127.0.0.1_${httpPort}`,
    address: { socket_address: { address: "127.0.0.1", port_value: httpPort } },
    filter_chains: [
      {
        filters: [
          {
            name: "envoy.filters.network.http_connection_manager",
            typed_config: {
              "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
              stat_prefix: `skiff_gateway_${httpPort}`,
              route_config: { name: "skiff-no-gateway", virtual_hosts: [] },
              http_filters: [{ name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } }],
            },
          },
        ],
      },
    ],
    traffic_direction: "OUTBOUND",
  };
}

/** Rewrites the local gateway's listeners to host ports (pure; other proxies pass through). */
export function mapGatewayPorts(result: TranslationResult, proxy: ProxyNode): TranslationResult {
  const raw = proxy.metadata[GATEWAY_HTTP_PORT_KEY];
  const httpPort = Number(raw);
  if (proxy.type !== "router" || raw === undefined || !Number.isInteger(httpPort) || httpPort <= 0) return result;
  const listeners = result.resources.listeners.map((listener) => {
    const sa = socketAddressOf(listener);
    if (!sa || typeof sa.port_value !== "number") return listener;
    const port = hostPortFor(sa.port_value, httpPort);
    const address = !sa.address || sa.address === "0.0.0.0" || sa.address === "::" ? "127.0.0.1" : sa.address;
    return { ...listener, name: `${address}_${port}`, address: { socket_address: { ...sa, address, port_value: port } } };
  });
  if (!listeners.some((l) => socketAddressOf(l)?.port_value === httpPort)) listeners.push(notRoutedListener(httpPort));
  listeners.sort((a, b) => (String(a.name) < String(b.name) ? -1 : String(a.name) > String(b.name) ? 1 : 0));
  return { ...result, resources: { ...result.resources, listeners } };
}

export function withGatewayPorts(translate: TranslateFn): TranslateFn {
  return (snapshot, proxy) => mapGatewayPorts(translate(snapshot, proxy), proxy);
}
