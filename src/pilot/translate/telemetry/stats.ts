// Istio's stats and metadata-exchange filters, in the shapes Istio's control plane emits
// (udpa TypedStruct around Istio's own config protos), so that Envoy with Istio's proxy
// extensions and Skiff's proxy read the same thing. docs/translation.md "Telemetry" pins
// the shapes for the proxy side.
import { ISTIO_METRICS } from "../../../telemetry/index.ts";
import type { EnvoyJson } from "../types.ts";
import type { MetricOverride, Mode } from "./policy.ts";

export const TYPED_STRUCT = "type.googleapis.com/udpa.type.v1.TypedStruct";
export const STATS_FILTER = "istio.stats";
export const METADATA_EXCHANGE_FILTER = "istio.metadata_exchange";
export const STATS_CONFIG_TYPE = "type.googleapis.com/stats.PluginConfig";
export const HTTP_PEER_METADATA_TYPE = "type.googleapis.com/io.istio.http.peer_metadata.Config";
export const TCP_METADATA_EXCHANGE_TYPE = "type.googleapis.com/envoy.tcp.metadataexchange.config.MetadataExchange";
/** The ALPN protocol Istio's TCP metadata exchange negotiates. */
export const PEER_EXCHANGE_PROTOCOL = "istio-peer-exchange";

/** `istio_requests_total` → `requests_total`: Istio's stats config names metrics without the prefix. */
function configName(metric: string): string {
  return metric.replace(/^istio_/, "");
}

/**
 * The stats-config metric names an override's selector covers, among the metrics a
 * filter of this kind reports (HTTP filters: request metrics; TCP filters: tcp_*).
 * Custom metric names go to both.
 */
function metricNames(o: MetricOverride, tcp: boolean): string[] {
  if (o.custom) return [o.metric];
  const own = ISTIO_METRICS.filter((m) => m.tcp === tcp);
  if (o.metric === "ALL_METRICS") return own.map((m) => configName(m.name));
  const def = own.find((m) => m.selector === o.metric);
  return def ? [configName(def.name)] : [];
}

interface MetricConfig {
  name: string;
  drop?: boolean;
  dimensions: Record<string, string>;
  tags_to_remove: string[];
}

/**
 * `metrics` entries of stats.PluginConfig from the overrides, in order: each later
 * override of a metric wins for what it sets (drop, a tag's value, a tag's removal).
 */
export function metricConfigs(overrides: readonly MetricOverride[], tcp: boolean): EnvoyJson[] {
  const byName = new Map<string, MetricConfig>();
  for (const o of overrides) {
    for (const name of metricNames(o, tcp)) {
      const m = byName.get(name) ?? { name, dimensions: {}, tags_to_remove: [] };
      if (o.disabled !== undefined) m.drop = o.disabled;
      for (const [tag, t] of Object.entries(o.tagOverrides)) {
        if (t.operation === "REMOVE") {
          delete m.dimensions[tag];
          if (!m.tags_to_remove.includes(tag)) m.tags_to_remove.push(tag);
        } else if (t.value !== undefined) {
          m.dimensions[tag] = t.value;
          m.tags_to_remove = m.tags_to_remove.filter((x) => x !== tag);
        }
      }
      byName.set(name, m);
    }
  }
  return [...byName.values()]
    .sort((a, b) => (a.name < b.name ? -1 : 1))
    .map((m) => {
      const out: EnvoyJson = { name: m.name };
      if (Object.keys(m.dimensions).length > 0) out.dimensions = Object.fromEntries(Object.entries(m.dimensions).sort(([a], [b]) => (a < b ? -1 : 1)));
      if (m.tags_to_remove.length > 0) out.tags_to_remove = [...m.tags_to_remove].sort();
      if (m.drop) out.drop = true;
      return out;
    });
}

/** stats.PluginConfig for one direction. Gateways report as SERVER_GATEWAY (Istio's reporter for routers). */
export function statsConfig(overrides: readonly MetricOverride[], mode: Mode, gateway: boolean, tcp: boolean): EnvoyJson {
  const value: EnvoyJson = {};
  // Inbound and gateways never fall back to the Host header for destination_service: they know it.
  if (mode === "SERVER" || gateway) value.disable_host_header_fallback = true;
  if (gateway) value.reporter = "SERVER_GATEWAY";
  const metrics = metricConfigs(overrides, tcp);
  if (metrics.length > 0) value.metrics = metrics;
  return { "@type": TYPED_STRUCT, type_url: STATS_CONFIG_TYPE, value };
}

export function httpStatsFilter(overrides: readonly MetricOverride[], mode: Mode, gateway: boolean): EnvoyJson {
  return { name: STATS_FILTER, typed_config: statsConfig(overrides, mode, gateway, false) };
}

export function tcpStatsFilter(overrides: readonly MetricOverride[], mode: Mode, gateway: boolean): EnvoyJson {
  return { name: STATS_FILTER, typed_config: statsConfig(overrides, mode, gateway, true) };
}

/**
 * HTTP peer metadata exchange: clients discover the server from its response headers
 * (or the registry, workload_discovery) and announce themselves in request headers;
 * servers do the reverse.
 */
export function httpMetadataExchange(mode: Mode): EnvoyJson {
  const discovery = [{ istio_headers: {} }, { workload_discovery: {} }];
  const propagation = [{ istio_headers: {} }];
  const value =
    mode === "CLIENT"
      ? { upstream_discovery: discovery, upstream_propagation: propagation }
      : { downstream_discovery: discovery, downstream_propagation: propagation };
  return { name: METADATA_EXCHANGE_FILTER, typed_config: { "@type": TYPED_STRUCT, type_url: HTTP_PEER_METADATA_TYPE, value } };
}

/** TCP metadata exchange (server side of mTLS chains): the peer's metadata over ALPN istio-peer-exchange. */
export function tcpMetadataExchange(): EnvoyJson {
  return {
    name: METADATA_EXCHANGE_FILTER,
    typed_config: { "@type": TYPED_STRUCT, type_url: TCP_METADATA_EXCHANGE_TYPE, value: { protocol: PEER_EXCHANGE_PROTOCOL, enable_discovery: true } },
  };
}
