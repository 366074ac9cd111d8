// The network filters every listener builder shares: the HTTP connection manager with
// its HTTP filter chain, and tcp_proxy. The filter chain has named slots where the
// security issue (jwt_authn, rbac) and the telemetry issue (stats, tracing, access log)
// insert their filters, so they never need to edit the listener builders.
import type { EnvoyJson } from "./types.ts";
import { EnvoyType, FilterName, adsConfigSource, typed } from "./envoy-json.ts";

/** Extra HTTP filters contributed by other concerns, in the order they must run. */
export interface HttpFilterSlots {
  /** Authentication and authorization (jwt_authn, rbac): before anything acts on the request. */
  security?: EnvoyJson[];
  /** Telemetry (stats, tracing hooks): after routing decisions are known, before the router. */
  telemetry?: EnvoyJson[];
}

/**
 * The HTTP filter chain, in Istio's order: security, cors, fault, telemetry, router.
 * cors and fault are always present (with empty configs) because routes switch them on
 * per route through typed_per_filter_config; the router must be last.
 */
export function httpFilters(slots: HttpFilterSlots = {}): EnvoyJson[] {
  return [
    ...(slots.security ?? []),
    { name: FilterName.cors, typed_config: typed(EnvoyType.cors) },
    { name: FilterName.fault, typed_config: typed(EnvoyType.fault) },
    ...(slots.telemetry ?? []),
    { name: FilterName.router, typed_config: typed(EnvoyType.router) },
  ];
}

export interface HcmOptions {
  statPrefix: string;
  /** RDS route configuration name (fetched over ADS) ... */
  rds?: string;
  /** ... or an inline route configuration (inbound). */
  routeConfig?: EnvoyJson;
  filters?: HttpFilterSlots;
  /** Accept absolute-form request targets (`GET http://host/path`): the HTTP_PROXY listener. */
  allowAbsoluteUrl?: boolean;
  /** Gateways are the edge: they trust the peer address as the client's (Istio: true). */
  useRemoteAddress?: boolean;
  /** Access log entries (telemetry issue). */
  accessLog?: EnvoyJson[];
}

export function httpConnectionManager(options: HcmOptions): EnvoyJson {
  const config: EnvoyJson = { stat_prefix: options.statPrefix };
  if (options.rds !== undefined) {
    config.rds = { config_source: adsConfigSource(), route_config_name: options.rds };
  } else if (options.routeConfig) {
    config.route_config = options.routeConfig;
  }
  config.http_filters = httpFilters(options.filters);
  config.use_remote_address = options.useRemoteAddress ?? false;
  if (options.allowAbsoluteUrl) config.http_protocol_options = { allow_absolute_url: true };
  if (options.accessLog && options.accessLog.length > 0) config.access_log = options.accessLog;
  return { name: FilterName.hcm, typed_config: typed(EnvoyType.hcm, config) };
}

/** tcp_proxy to one cluster, or split across weighted clusters. */
export function tcpProxy(statPrefix: string, target: string | { name: string; weight: number }[]): EnvoyJson {
  const config: EnvoyJson = { stat_prefix: statPrefix };
  if (typeof target === "string") config.cluster = target;
  else if (target.length === 1) config.cluster = target[0].name;
  else config.weighted_clusters = { clusters: target.map((t) => ({ name: t.name, weight: t.weight })) };
  return { name: FilterName.tcpProxy, typed_config: typed(EnvoyType.tcpProxy, config) };
}

export function listenerFilter(kind: "tls" | "http"): EnvoyJson {
  return kind === "tls"
    ? { name: FilterName.tlsInspector, typed_config: typed(EnvoyType.tlsInspector) }
    : { name: FilterName.httpInspector, typed_config: typed(EnvoyType.httpInspector) };
}
