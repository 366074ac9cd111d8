// DestinationRule traffic policy → Envoy cluster fields, following Istio's cluster
// builder: which policy applies to a port and subset (port-level settings replace the
// top level, subsets override field by field), then connection pool, HTTP/2 upgrade,
// outlier detection, load balancer and client TLS, each written onto a cluster.
import type {
  ClientTLSSettings,
  ConnectionPoolSettings,
  LoadBalancerSettings,
  OutlierDetection,
  TrafficPolicy,
} from "../../api/kinds.ts";
import type { ServicePort } from "../../registry/types.ts";
import type { EffectiveDestinationRule, ProxyView } from "./context.ts";
import { FilterName, toEnvoyDuration, typed } from "./envoy-json.ts";
import type { EnvoyJson } from "./types.ts";

/** Envoy's UInt32 maximum: Istio's "no limit" for every circuit breaker threshold. */
export const UNLIMITED = 4294967295;

/** Istio's mesh-wide default connect timeout (meshConfig.connectTimeout). */
export const DEFAULT_CONNECT_TIMEOUT = "10s";

export const HTTP_PROTOCOL_OPTIONS_KEY = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions";
const HTTP_PROTOCOL_OPTIONS_TYPE = `type.googleapis.com/${HTTP_PROTOCOL_OPTIONS_KEY}`;
const UPSTREAM_TLS_TYPE = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext";

/** Where the proxy finds the system's CA bundle when a rule gives no caCertificates (Debian path). */
export const SYSTEM_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt";

/** Reports a policy that validated but cannot be honoured, naming the field. */
export type Report = (message: string) => void;

// ---------------------------------------------------------------- which policy applies

function portLevel(policy: TrafficPolicy | undefined, port: number): TrafficPolicy | undefined {
  return policy?.portLevelSettings?.find((p) => p.port?.number === port);
}

/**
 * The traffic policy for one port and (optional) subset, as Istio merges it:
 * port-level settings of the top-level policy replace its four components for that
 * port (they do not inherit); a subset's policy then overrides whichever components
 * it sets, and the subset's own port-level settings replace all four again.
 */
export function effectivePolicy(
  dr: EffectiveDestinationRule | undefined,
  subset: string | undefined,
  port: number,
): TrafficPolicy | undefined {
  if (!dr) return undefined;
  const top = dr.trafficPolicy;
  const base = resolvePort(top, port);
  if (!subset) return base;
  const sub = dr.subsets.find((s) => s.name === subset)?.trafficPolicy;
  if (!sub) return base;
  const merged: TrafficPolicy = { ...(base ?? {}) };
  delete merged.portLevelSettings;
  if (sub.connectionPool) merged.connectionPool = sub.connectionPool;
  if (sub.loadBalancer) merged.loadBalancer = sub.loadBalancer;
  if (sub.outlierDetection) merged.outlierDetection = sub.outlierDetection;
  if (sub.tls) merged.tls = sub.tls;
  const subPort = portLevel(sub, port);
  return subPort ? replaceComponents(merged, subPort) : merged;
}

function resolvePort(policy: TrafficPolicy | undefined, port: number): TrafficPolicy | undefined {
  if (!policy) return undefined;
  const { portLevelSettings: _ignored, ...rest } = policy;
  const level = portLevel(policy, port);
  return level ? replaceComponents(rest, level) : rest;
}

function replaceComponents(policy: TrafficPolicy, level: TrafficPolicy): TrafficPolicy {
  return {
    ...policy,
    connectionPool: level.connectionPool,
    loadBalancer: level.loadBalancer,
    outlierDetection: level.outlierDetection,
    tls: level.tls,
  };
}

// ---------------------------------------------------------------- applying a policy

export interface ApplyOptions {
  port: ServicePort;
  direction: "outbound" | "inbound";
  /** Proxyless gRPC clients understand only ROUND_ROBIN and RING_HASH. */
  proxyless: boolean;
  report: Report;
}

function duration(text: string | undefined, field: string, report: Report): string | undefined {
  if (text === undefined) return undefined;
  const out = toEnvoyDuration(text);
  if (out === undefined) report(`${field}: "${text}" is not a duration; write e.g. "100ms", "1.5s" or "2m"`);
  return out;
}

function httpOptions(cluster: EnvoyJson): EnvoyJson {
  const all = (cluster.typed_extension_protocol_options ??= {}) as Record<string, EnvoyJson>;
  return (all[HTTP_PROTOCOL_OPTIONS_KEY] ??= typed(HTTP_PROTOCOL_OPTIONS_TYPE));
}

/** Sets explicit HTTP/2 to the upstream, unless the client's protocol is to be kept. */
export function setHttp2(cluster: EnvoyJson): void {
  const options = httpOptions(cluster);
  if (!options.use_downstream_protocol_config) options.explicit_http_config = { http2_protocol_options: {} };
}

function isHttp2Port(port: ServicePort): boolean {
  return port.protocol === "HTTP2" || port.protocol === "GRPC" || port.protocol === "GRPC-Web";
}

function isHttpPort(port: ServicePort): boolean {
  return port.protocol === "HTTP" || isHttp2Port(port);
}

/**
 * Writes a traffic policy onto a cluster whose type and defaults are already set.
 * Inbound clusters take only the connection pool, as in Istio.
 */
export function applyTrafficPolicy(cluster: EnvoyJson, policy: TrafficPolicy | undefined, opts: ApplyOptions): void {
  if (isHttp2Port(opts.port)) setHttp2(cluster);
  applyConnectionPool(cluster, policy?.connectionPool, opts.report);
  if (opts.direction === "outbound") {
    const upgrade = policy?.connectionPool?.http?.h2UpgradePolicy;
    // An explicit UPGRADE means the user knows the port speaks HTTP; the mesh default is not to upgrade.
    if (upgrade === "UPGRADE") setHttp2(cluster);
    applyOutlierDetection(cluster, policy?.outlierDetection, opts.report);
    applyLoadBalancer(cluster, policy?.loadBalancer, opts);
    applyTls(cluster, policy?.tls, opts);
  }
  if (cluster.type === "ORIGINAL_DST") cluster.lb_policy = "CLUSTER_PROVIDED";
}

/** Istio's defaults: every threshold unlimited, remaining capacity tracked. */
export function defaultThresholds(): EnvoyJson {
  return {
    max_connections: UNLIMITED,
    max_pending_requests: UNLIMITED,
    max_requests: UNLIMITED,
    max_retries: UNLIMITED,
    track_remaining: true,
  };
}

function applyConnectionPool(cluster: EnvoyJson, pool: ConnectionPoolSettings | undefined, report: Report): void {
  const thresholds = defaultThresholds();
  const http = pool?.http;
  const tcp = pool?.tcp;
  // Zero cannot be told from "unset" in Istio's API, so only positive values count.
  if (http?.http2MaxRequests && http.http2MaxRequests > 0) thresholds.max_requests = http.http2MaxRequests;
  if (http?.http1MaxPendingRequests && http.http1MaxPendingRequests > 0)
    thresholds.max_pending_requests = http.http1MaxPendingRequests;
  if (http?.maxRetries && http.maxRetries > 0) thresholds.max_retries = http.maxRetries;
  if (tcp?.maxConnections && tcp.maxConnections > 0) thresholds.max_connections = tcp.maxConnections;
  const connectTimeout = duration(tcp?.connectTimeout, "connectionPool.tcp.connectTimeout", report);
  if (connectTimeout) cluster.connect_timeout = connectTimeout;
  cluster.circuit_breakers = { thresholds: [thresholds] };

  if (tcp?.tcpKeepalive) {
    const keepalive: EnvoyJson = {};
    const ka = tcp.tcpKeepalive;
    if (ka.probes && ka.probes > 0) keepalive.keepalive_probes = ka.probes;
    const time = seconds(ka.time, "connectionPool.tcp.tcpKeepalive.time", report);
    if (time !== undefined) keepalive.keepalive_time = time;
    const interval = seconds(ka.interval, "connectionPool.tcp.tcpKeepalive.interval", report);
    if (interval !== undefined) keepalive.keepalive_interval = interval;
    // An empty tcp_keepalive still turns SO_KEEPALIVE on with the OS defaults.
    cluster.upstream_connection_options = { tcp_keepalive: keepalive };
  }

  // The HTTP idle timeout falls back to the TCP one, as in Istio.
  const idle = duration(http?.idleTimeout ?? tcp?.idleTimeout, "connectionPool.http.idleTimeout", report);
  const maxDuration = duration(tcp?.maxConnectionDuration, "connectionPool.tcp.maxConnectionDuration", report);
  const perConnection = http?.maxRequestsPerConnection ?? 0;
  const streams = http?.maxConcurrentStreams ?? 0;
  if (idle || maxDuration || perConnection > 0 || streams > 0) {
    const options = httpOptions(cluster);
    const common: EnvoyJson = {};
    if (idle) common.idle_timeout = idle;
    if (perConnection > 0) common.max_requests_per_connection = perConnection;
    if (maxDuration) common.max_connection_duration = maxDuration;
    if (Object.keys(common).length > 0) options.common_http_protocol_options = common;
    const h2 = (options.explicit_http_config as EnvoyJson | undefined)?.http2_protocol_options as EnvoyJson | undefined;
    if (h2 && streams > 0) h2.max_concurrent_streams = streams;
  }
  if (http?.useClientProtocol) {
    const options = httpOptions(cluster);
    delete options.explicit_http_config;
    options.use_downstream_protocol_config = { http_protocol_options: {}, http2_protocol_options: {} };
  }
}

function seconds(text: string | undefined, field: string, report: Report): number | undefined {
  const d = duration(text, field, report);
  return d === undefined ? undefined : Math.floor(Number(d.slice(0, -1)));
}

function applyOutlierDetection(cluster: EnvoyJson, od: OutlierDetection | undefined, report: Report): void {
  if (!od) return;
  // Success-rate ejection is off in Istio; only consecutive-error ejection is configured.
  const out: EnvoyJson = { enforcing_success_rate: 0 };
  // consecutiveErrors is the deprecated spelling of consecutive5xxErrors.
  const fiveXx = od.consecutive5xxErrors ?? od.consecutiveErrors;
  if (fiveXx !== undefined) {
    out.consecutive_5xx = fiveXx;
    out.enforcing_consecutive_5xx = fiveXx > 0 ? 100 : 0;
  }
  if (od.consecutiveGatewayErrors !== undefined) {
    out.consecutive_gateway_failure = od.consecutiveGatewayErrors;
    out.enforcing_consecutive_gateway_failure = od.consecutiveGatewayErrors > 0 ? 100 : 0;
  }
  const interval = duration(od.interval, "outlierDetection.interval", report);
  if (interval) out.interval = interval;
  const base = duration(od.baseEjectionTime, "outlierDetection.baseEjectionTime", report);
  if (base) out.base_ejection_time = base;
  if (od.maxEjectionPercent && od.maxEjectionPercent > 0) out.max_ejection_percent = od.maxEjectionPercent;
  if (od.splitExternalLocalOriginErrors) {
    out.split_external_local_origin_errors = true;
    if (od.consecutiveLocalOriginFailures && od.consecutiveLocalOriginFailures > 0) {
      out.consecutive_local_origin_failure = od.consecutiveLocalOriginFailures;
      out.enforcing_consecutive_local_origin_failure = 100;
    }
    out.enforcing_local_origin_success_rate = 0;
  }
  cluster.outlier_detection = out;
  // Istio turns Envoy's panic threshold (default 50 %) down to minHealthPercent (0 when
  // unset): with few pods per service, panic mode would send traffic to ejected hosts.
  const common = (cluster.common_lb_config ??= {}) as EnvoyJson;
  common.healthy_panic_threshold = { value: od.minHealthPercent ?? 0 };
}

function applyLoadBalancer(cluster: EnvoyJson, lb: LoadBalancerSettings | undefined, opts: ApplyOptions): void {
  if (lb?.localityLbSetting?.distribute?.length) {
    // Weighted localities need Envoy's locality-weighted balancing; failover is not modelled.
    const common = (cluster.common_lb_config ??= {}) as EnvoyJson;
    common.locality_weighted_lb_config = {};
  }
  if (cluster.type === "ORIGINAL_DST") return;
  const warmup = duration(lb?.warmupDurationSecs, "loadBalancer.warmupDurationSecs", opts.report);
  const slowStart = warmup ? { slow_start_config: { slow_start_window: warmup } } : undefined;
  if (opts.proxyless) {
    // gRPC's xDS client rejects every other policy; consistent hashing maps to its ring hash.
    cluster.lb_policy = lb?.consistentHash ? "RING_HASH" : "ROUND_ROBIN";
    if (lb?.simple && lb.simple !== "ROUND_ROBIN" && lb.simple !== "UNSPECIFIED")
      opts.report(`loadBalancer.simple ${lb.simple} is not supported by proxyless gRPC clients; ROUND_ROBIN is used`);
    if (lb?.consistentHash) applyConsistentHash(cluster, lb);
    return;
  }
  switch (lb?.simple) {
    case "ROUND_ROBIN":
      cluster.lb_policy = "ROUND_ROBIN";
      if (slowStart) cluster.round_robin_lb_config = slowStart;
      break;
    case "RANDOM":
      cluster.lb_policy = "RANDOM";
      break;
    case "PASSTHROUGH":
      // Connect to the address the caller asked for: an original-destination cluster.
      cluster.type = "ORIGINAL_DST";
      cluster.lb_policy = "CLUSTER_PROVIDED";
      delete cluster.eds_cluster_config;
      delete cluster.load_assignment;
      delete cluster.dns_lookup_family;
      delete cluster.dns_refresh_rate;
      delete cluster.respect_dns_ttl;
      return;
    default:
      // LEAST_CONN is the deprecated name of LEAST_REQUEST, which is also Istio's default.
      cluster.lb_policy = "LEAST_REQUEST";
      if (slowStart) cluster.least_request_lb_config = slowStart;
  }
  if (lb?.consistentHash) applyConsistentHash(cluster, lb);
}

function applyConsistentHash(cluster: EnvoyJson, lb: LoadBalancerSettings): void {
  const ch = lb.consistentHash;
  if (!ch) return;
  delete cluster.round_robin_lb_config;
  delete cluster.least_request_lb_config;
  // UInt64Value is a JSON string in proto3 JSON.
  if (ch.maglev) {
    cluster.lb_policy = "MAGLEV";
    if (ch.maglev.tableSize) cluster.maglev_lb_config = { table_size: String(ch.maglev.tableSize) };
  } else if (ch.ringHash) {
    cluster.lb_policy = "RING_HASH";
    if (ch.ringHash.minimumRingSize)
      cluster.ring_hash_lb_config = { minimum_ring_size: String(ch.ringHash.minimumRingSize) };
  } else {
    // Neither named: a ring hash with the deprecated top-level size, 1024 (Envoy's default) if unset.
    cluster.lb_policy = "RING_HASH";
    cluster.ring_hash_lb_config = { minimum_ring_size: String(ch.minimumRingSize || 1024) };
  }
}

function applyTls(cluster: EnvoyJson, tls: ClientTLSSettings | undefined, opts: ApplyOptions): void {
  if (!tls || !tls.mode || tls.mode === "DISABLE") return;
  if (tls.mode === "ISTIO_MUTUAL") {
    // ISTIO_MUTUAL (and auto mTLS) need the mesh's SDS certificates and
    // transport_socket_matches: the security work adds them through
    // ClusterOptions.decorateOutbound (clusters.ts); nothing is emitted here.
    return;
  }
  if (tls.credentialName) {
    opts.report(`tls.credentialName "${tls.credentialName}" needs SDS, which is not supported yet; use clientCertificate/privateKey/caCertificates file paths`);
    return;
  }
  const common: EnvoyJson = {};
  if (tls.mode === "MUTUAL") {
    if (!tls.clientCertificate || !tls.privateKey) {
      opts.report("tls mode MUTUAL needs clientCertificate and privateKey; set both file paths");
      return;
    }
    common.tls_certificates = [
      { certificate_chain: { filename: tls.clientCertificate }, private_key: { filename: tls.privateKey } },
    ];
  }
  if (!tls.insecureSkipVerify) {
    const validation: EnvoyJson = { trusted_ca: { filename: tls.caCertificates || SYSTEM_CA_BUNDLE } };
    if (tls.subjectAltNames?.length)
      validation.match_typed_subject_alt_names = tls.subjectAltNames.map((san) => ({ san_type: "DNS", matcher: { exact: san } }));
    if (tls.caCrl) validation.crl = { filename: tls.caCrl };
    common.validation_context = validation;
  }
  const explicit = ((cluster.typed_extension_protocol_options as Record<string, EnvoyJson> | undefined)?.[
    HTTP_PROTOCOL_OPTIONS_KEY
  ]?.explicit_http_config ?? {}) as EnvoyJson;
  // HTTP/2 over TLS must be negotiated by ALPN.
  if (explicit.http2_protocol_options && isHttpPort(opts.port)) common.alpn_protocols = ["h2"];
  const context: EnvoyJson = { common_tls_context: common };
  if (tls.sni) context.sni = tls.sni;
  cluster.transport_socket = { name: FilterName.tlsTransport, typed_config: typed(UPSTREAM_TLS_TYPE, context) };
}

// ---------------------------------------------------------------- route hash policy

/**
 * Envoy route `hash_policy` entries for a consistent-hash DestinationRule of `host`
 * (subset and port-level settings applied), for the route engineer. Empty when the
 * destination does not hash.
 */
export function hashPolicyFor(view: ProxyView, host: string, subset: string | undefined, port: number): EnvoyJson[] {
  const policy = effectivePolicy(view.destinationRule(host), subset, port);
  const ch = policy?.loadBalancer?.consistentHash;
  if (!ch) return [];
  if (ch.httpHeaderName) return [{ header: { header_name: ch.httpHeaderName } }];
  if (ch.httpCookie) {
    const cookie: EnvoyJson = { name: ch.httpCookie.name };
    if (ch.httpCookie.path) cookie.path = ch.httpCookie.path;
    const ttl = ch.httpCookie.ttl ? toEnvoyDuration(ch.httpCookie.ttl) : undefined;
    if (ttl) cookie.ttl = ttl;
    return [{ cookie }];
  }
  if (ch.useSourceIp) return [{ connection_properties: { source_ip: true } }];
  if (ch.httpQueryParameterName) return [{ query_parameter: { name: ch.httpQueryParameterName } }];
  return [];
}
