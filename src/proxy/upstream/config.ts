// Validation and parsing of Cluster and ClusterLoadAssignment resources into the typed
// settings the rest of this folder uses. Every field either has its Envoy semantics
// implemented, is listed as harmless (no behaviour a user could observe), or is an error:
// the xDS client NACKs rather than silently running something other than what was asked.
import { durationMs, wrappedNumber } from "./duration.ts";
import { parseUpstreamTls } from "./tls.ts";
import type { TlsSpec } from "./tls.ts";
import { isIP } from "node:net";
import type { ClusterType, EnvoyJson, HealthStatus, LbPolicyName, Locality, ResourceError } from "./types.ts";

export interface Thresholds {
  max_connections: number;
  max_pending_requests: number;
  max_requests: number;
  max_retries: number;
}

/** Envoy's defaults for every circuit breaker threshold. */
export const DEFAULT_THRESHOLDS: Thresholds = { max_connections: 1024, max_pending_requests: 1024, max_requests: 1024, max_retries: 3 };

export interface OutlierConfig {
  consecutive5xx: number;
  consecutiveGatewayFailure: number;
  /** Percent chance (0–100) that a detected consecutive-5xx ejection is enforced. */
  enforcing5xx: number;
  enforcingGatewayFailure: number;
  intervalMs: number;
  baseEjectionMs: number;
  maxEjectionMs: number;
  maxEjectionPercent: number;
  /** split_external_local_origin_errors: local failures count only in their own counter. */
  splitLocalOrigin: boolean;
  consecutiveLocalOriginFailure: number;
  enforcingLocalOrigin: number;
}

export interface EndpointSpec {
  address: string;
  port: number;
  weight: number;
  healthStatus: HealthStatus;
  locality: Locality;
  localityWeight: number;
  priority: number;
  hostname?: string;
  metadata?: EnvoyJson;
  /** Where it came from in its ClusterLoadAssignment (for error messages). */
  path?: string;
}

/** One of the cluster's transport_socket_matches: endpoints whose metadata matches use it. */
export interface SocketMatch {
  name: string;
  match: Record<string, unknown>;
  /** Set when the match originates TLS. */
  tls?: TlsSpec;
}

export type UpstreamProtocol = "h1" | "h2" | "downstream";

export interface ParsedCluster {
  name: string;
  type: ClusterType;
  lbPolicy: LbPolicyName;
  connectTimeoutMs: number;
  /** EDS resource name (eds_cluster_config.service_name or the cluster name). */
  edsServiceName?: string;
  /** STATIC / STRICT_DNS / LOGICAL_DNS endpoints from load_assignment. */
  endpoints: EndpointSpec[];
  loadAssignment?: EnvoyJson;
  thresholds: Thresholds;
  outlier?: OutlierConfig;
  /** healthy_panic_threshold in percent (Envoy default 50). */
  panicThresholdPercent: number;
  localityWeighted: boolean;
  ringMin: number;
  ringMax: number;
  maglevTableSize: number;
  choiceCount: number;
  activeRequestBias: number;
  protocol: UpstreamProtocol;
  idleTimeoutMs: number;
  /** 0 = unlimited. */
  maxRequestsPerConnection: number;
  /** common_http_protocol_options.max_connection_duration; 0 = unlimited. */
  maxConnectionDurationMs: number;
  dnsRefreshMs: number;
  dnsFamily: "v4" | "v6" | "any";
  cleanupIntervalMs: number;
  socketMatches: SocketMatch[];
  /** ROUND_ROBIN / LEAST_REQUEST slow_start_config. */
  slowStart?: SlowStart;
  /** The cluster's transport_socket when it originates TLS. */
  tls?: TlsSpec;
  /** http2_protocol_options.max_concurrent_streams; 0 = unlimited. */
  maxConcurrentStreams: number;
  /** upstream_bind_config.source_address: the local address (and port, 0 = any) upstream connections leave from. */
  sourceAddress?: SourceAddress;
}

export interface SourceAddress {
  address: string;
  port: number;
}

export interface SlowStart {
  windowMs: number;
  aggression: number;
  minWeightPercent: number;
}

const CLUSTER_TYPES: ReadonlySet<string> = new Set(["STATIC", "STRICT_DNS", "LOGICAL_DNS", "EDS", "ORIGINAL_DST"]);
const LB_POLICIES: ReadonlySet<string> = new Set(["ROUND_ROBIN", "LEAST_REQUEST", "RANDOM", "RING_HASH", "MAGLEV", "CLUSTER_PROVIDED"]);
const HEALTH: ReadonlySet<string> = new Set(["UNKNOWN", "HEALTHY", "UNHEALTHY", "DRAINING", "TIMEOUT", "DEGRADED"]);
const HTTP_PROTOCOL_OPTIONS = "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions";
const RAW_BUFFER = "type.googleapis.com/envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer";
const UPSTREAM_TLS = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext";

/** Collects errors with the resource and field path filled in. */
class Problems {
  readonly errors: ResourceError[] = [];
  constructor(private readonly resource: string, private readonly what: string) {}
  add(field: string, message: string): void {
    this.errors.push({ resource: this.resource, field, message: `${this.what} "${this.resource}": ${field}: ${message}` });
  }
  /** Report every key of `obj` not in `known` as unimplemented. */
  only(obj: EnvoyJson, path: string, known: readonly string[]): void {
    for (const key of Object.keys(obj)) {
      if (!known.includes(key)) {
        this.add(path ? `${path}.${key}` : key, "this field is not implemented by skiff's proxy; remove it or leave it unset");
      }
    }
  }
  /** Run a parse step; a thrown sentence becomes an error on `field`. */
  try<T>(field: string, fn: () => T, fallback: T): T {
    try {
      return fn();
    } catch (e) {
      this.add(field, (e as Error).message);
      return fallback;
    }
  }
}

function obj(value: unknown): EnvoyJson | undefined {
  return value !== null && typeof value === "object" && !Array.isArray(value) ? (value as EnvoyJson) : undefined;
}

// Fields of Cluster with their Envoy semantics implemented here, or harmless to ignore
// (they change names, buffers or bookkeeping, never which host gets a request or how).
const CLUSTER_FIELDS = [
  "@type", "name", "type", "connect_timeout", "lb_policy", "load_assignment", "eds_cluster_config",
  "circuit_breakers", "outlier_detection", "ring_hash_lb_config", "maglev_lb_config",
  "least_request_lb_config", "round_robin_lb_config", "common_lb_config", "http2_protocol_options",
  "http_protocol_options", "typed_extension_protocol_options", "common_http_protocol_options",
  "max_requests_per_connection", "dns_refresh_rate", "dns_lookup_family", "respect_dns_ttl",
  "cleanup_interval", "original_dst_lb_config", "transport_socket", "transport_socket_matches",
  "upstream_bind_config",
  // harmless:
  "alt_stat_name", "metadata", "per_connection_buffer_limit_bytes", "upstream_connection_options",
  "track_cluster_stats", "track_timeout_budgets", "ignore_health_on_host_removal",
  "close_connections_on_host_health_failure", "upstream_http_protocol_options", "dns_jitter",
  "dns_failure_refresh_rate", "preconnect_policy", "health_checks",
];

/** Parse one Cluster; errors name the cluster and field. */
export function parseCluster(json: EnvoyJson): { cluster?: ParsedCluster; errors: ResourceError[] } {
  const name = typeof json.name === "string" ? json.name : "";
  const p = new Problems(name || "<unnamed>", "cluster");
  if (!name) p.add("name", "a cluster needs a name");
  p.only(json, "", CLUSTER_FIELDS);

  const type = (json.type ?? "STATIC") as string;
  if (!CLUSTER_TYPES.has(type)) p.add("type", `cluster type ${JSON.stringify(type)} is not implemented (use STATIC, STRICT_DNS, LOGICAL_DNS, EDS or ORIGINAL_DST)`);
  let lbPolicy = (json.lb_policy ?? "ROUND_ROBIN") as string;
  if (!LB_POLICIES.has(lbPolicy)) p.add("lb_policy", `lb_policy ${JSON.stringify(lbPolicy)} is not implemented (use ROUND_ROBIN, LEAST_REQUEST, RANDOM, RING_HASH or MAGLEV)`);
  if (type === "ORIGINAL_DST") {
    if (lbPolicy !== "CLUSTER_PROVIDED" && lbPolicy !== "ROUND_ROBIN" && json.lb_policy !== undefined) {
      p.add("lb_policy", `an ORIGINAL_DST cluster picks the original destination itself; lb_policy must be CLUSTER_PROVIDED, not ${lbPolicy}`);
    }
    lbPolicy = "CLUSTER_PROVIDED";
  } else if (lbPolicy === "CLUSTER_PROVIDED") {
    p.add("lb_policy", `CLUSTER_PROVIDED is only valid for ORIGINAL_DST clusters; this cluster's type is ${type}`);
  }
  const health = json.health_checks;
  if (Array.isArray(health) && health.length > 0) p.add("health_checks", "active health checking is not implemented; rely on outlier_detection and EDS health_status");

  const connectTimeoutMs = p.try("connect_timeout", () => durationMs(json.connect_timeout) ?? 5000, 5000);

  // Transport socket: plaintext or TLS origination (UpstreamTlsContext).
  let tls: TlsSpec | undefined;
  const ts = obj(json.transport_socket);
  if (ts) {
    const tc = obj(ts.typed_config);
    if (tc?.["@type"] === UPSTREAM_TLS) tls = parseUpstreamTls(tc, "transport_socket.typed_config", (f, m) => p.add(f, m));
    else if (!tc || tc["@type"] !== RAW_BUFFER) p.add("transport_socket", `only raw_buffer and UpstreamTlsContext transport sockets are implemented, not ${JSON.stringify(tc?.["@type"] ?? ts.name)}`);
  }

  // transport_socket_matches (Istio's auto mTLS): each endpoint uses the first match whose
  // keys equal its envoy.transport_socket_match metadata; no match → the cluster's socket.
  const socketMatches: SocketMatch[] = [];
  const tsm = Array.isArray(json.transport_socket_matches) ? json.transport_socket_matches : [];
  tsm.forEach((raw, i) => {
    const path = `transport_socket_matches[${i}]`;
    const m = obj(raw) ?? {};
    p.only(m, path, ["name", "match", "transport_socket"]);
    const tc = obj(obj(m.transport_socket)?.typed_config);
    const type = tc?.["@type"];
    if (type !== RAW_BUFFER && type !== UPSTREAM_TLS) p.add(`${path}.transport_socket`, `only raw_buffer and UpstreamTlsContext transport sockets can be matched, not ${JSON.stringify(type)}`);
    const matchTls = type === UPSTREAM_TLS ? parseUpstreamTls(tc!, `${path}.transport_socket.typed_config`, (f, msg) => p.add(f, msg)) : undefined;
    socketMatches.push({ name: typeof m.name === "string" ? m.name : `#${i}`, match: obj(m.match) ?? {}, tls: matchTls });
  });

  // EDS
  let edsServiceName: string | undefined;
  if (type === "EDS") {
    const eds = obj(json.eds_cluster_config) ?? {};
    p.only(eds, "eds_cluster_config", ["eds_config", "service_name"]);
    edsServiceName = typeof eds.service_name === "string" && eds.service_name ? eds.service_name : name;
  } else if (json.eds_cluster_config !== undefined) {
    p.add("eds_cluster_config", `eds_cluster_config only applies to EDS clusters; this cluster's type is ${type}`);
  }

  // Inline endpoints
  let endpoints: EndpointSpec[] = [];
  const la = obj(json.load_assignment);
  if (la) {
    if (type === "EDS" || type === "ORIGINAL_DST") p.add("load_assignment", `${type} clusters take no inline load_assignment`);
    const parsed = parseEndpoints(la, p, "load_assignment");
    endpoints = parsed;
    if (type === "LOGICAL_DNS" && endpoints.length !== 1) p.add("load_assignment", `a LOGICAL_DNS cluster needs exactly one endpoint, found ${endpoints.length}`);
  }
  if (type === "STRICT_DNS" || type === "LOGICAL_DNS") {
    if (!la) p.add("load_assignment", `${type} clusters need a load_assignment with the hostnames to resolve`);
  }

  const thresholds = parseThresholds(json.circuit_breakers, p);
  const outlier = json.outlier_detection !== undefined ? parseOutlier(obj(json.outlier_detection) ?? {}, p) : undefined;

  // Load balancer settings.
  const common = obj(json.common_lb_config) ?? {};
  p.only(common, "common_lb_config", ["healthy_panic_threshold", "locality_weighted_lb_config", "update_merge_window"]);
  const panic = p.try("common_lb_config.healthy_panic_threshold", () => {
    const v = common.healthy_panic_threshold;
    if (v === undefined) return 50;
    // A Percent message; proto3 JSON omits `value` when it is 0, so `{}` means 0%.
    const n = wrappedNumber(obj(v) ? ((v as EnvoyJson).value ?? 0) : v) ?? 50;
    if (n < 0 || n > 100) throw new Error(`${n} is not a percentage between 0 and 100`);
    return n;
  }, 50);
  const localityWeighted = common.locality_weighted_lb_config !== undefined;

  const ring = obj(json.ring_hash_lb_config) ?? {};
  p.only(ring, "ring_hash_lb_config", ["minimum_ring_size", "maximum_ring_size", "hash_function"]);
  if (ring.hash_function !== undefined && ring.hash_function !== "XX_HASH") p.add("ring_hash_lb_config.hash_function", `only XX_HASH is implemented, not ${JSON.stringify(ring.hash_function)}`);
  const ringMin = p.try("ring_hash_lb_config.minimum_ring_size", () => wrappedNumber(ring.minimum_ring_size) ?? 1024, 1024);
  const ringMax = p.try("ring_hash_lb_config.maximum_ring_size", () => wrappedNumber(ring.maximum_ring_size) ?? 8 * 1024 * 1024, 8 * 1024 * 1024);
  if (ringMin > ringMax) p.add("ring_hash_lb_config.minimum_ring_size", `minimum_ring_size ${ringMin} is larger than maximum_ring_size ${ringMax}`);

  const maglev = obj(json.maglev_lb_config) ?? {};
  p.only(maglev, "maglev_lb_config", ["table_size"]);
  const maglevTableSize = p.try("maglev_lb_config.table_size", () => {
    const n = wrappedNumber(maglev.table_size) ?? 65537;
    if (!isPrime(n)) throw new Error(`table_size ${n} must be a prime number (Envoy's default is 65537)`);
    return n;
  }, 65537);

  const lr = obj(json.least_request_lb_config) ?? {};
  p.only(lr, "least_request_lb_config", ["choice_count", "active_request_bias", "slow_start_config"]);
  const choiceCount = p.try("least_request_lb_config.choice_count", () => {
    const n = wrappedNumber(lr.choice_count) ?? 2;
    if (n < 2) throw new Error(`choice_count must be at least 2, got ${n}`);
    return n;
  }, 2);
  const activeRequestBias = p.try("least_request_lb_config.active_request_bias", () => {
    const v = obj(lr.active_request_bias);
    return v ? Number(v.default_value ?? 1) : 1;
  }, 1);
  const rr = obj(json.round_robin_lb_config) ?? {};
  p.only(rr, "round_robin_lb_config", ["slow_start_config"]);
  let slowStart: SlowStart | undefined;
  for (const [cfg, path] of [[rr, "round_robin_lb_config"], [lr, "least_request_lb_config"]] as const) {
    const ss = obj(cfg.slow_start_config);
    if (!ss) continue;
    const spath = `${path}.slow_start_config`;
    p.only(ss, spath, ["slow_start_window", "aggression", "min_weight_percent"]);
    const windowMs = p.try(`${spath}.slow_start_window`, () => durationMs(ss.slow_start_window) ?? 0, 0);
    const aggression = p.try(`${spath}.aggression`, () => {
      const a = obj(ss.aggression);
      const n = a ? Number(a.default_value ?? 1) : 1;
      if (!(n > 0)) throw new Error(`aggression must be greater than 0, got ${n}`);
      return n;
    }, 1);
    const minWeightPercent = p.try(`${spath}.min_weight_percent`, () => {
      const v = ss.min_weight_percent;
      return v === undefined ? 10 : (wrappedNumber(obj(v) ? (v as EnvoyJson).value : v) ?? 10);
    }, 10);
    if (windowMs > 0) slowStart = { windowMs, aggression, minWeightPercent };
  }

  // Upstream protocol, idle timeout, requests per connection.
  let protocol: UpstreamProtocol = json.http2_protocol_options !== undefined ? "h2" : "h1";
  // HTTP/2 max_concurrent_streams per connection: more streams open another connection.
  let maxConcurrentStreams = 0;
  const h2Options = (v: unknown, path: string) => {
    const o = obj(v);
    if (o?.max_concurrent_streams !== undefined) maxConcurrentStreams = p.try(`${path}.max_concurrent_streams`, () => wrappedNumber(o.max_concurrent_streams) ?? 0, 0);
  };
  h2Options(json.http2_protocol_options, "http2_protocol_options");
  let idleTimeoutMs = 3600_000;
  let maxConnectionDurationMs = 0;
  let maxRequestsPerConnection = p.try("max_requests_per_connection", () => wrappedNumber(json.max_requests_per_connection) ?? 0, 0);
  const applyCommon = (c: EnvoyJson, path: string) => {
    p.only(c, path, ["idle_timeout", "max_requests_per_connection", "max_connection_duration", "max_headers_count", "headers_with_underscores_action"]);
    maxConnectionDurationMs = p.try(`${path}.max_connection_duration`, () => durationMs(c.max_connection_duration) ?? maxConnectionDurationMs, maxConnectionDurationMs);
    idleTimeoutMs = p.try(`${path}.idle_timeout`, () => durationMs(c.idle_timeout) ?? idleTimeoutMs, idleTimeoutMs);
    maxRequestsPerConnection = p.try(`${path}.max_requests_per_connection`, () => wrappedNumber(c.max_requests_per_connection) ?? maxRequestsPerConnection, maxRequestsPerConnection);
  };
  const topCommon = obj(json.common_http_protocol_options);
  if (topCommon) applyCommon(topCommon, "common_http_protocol_options");
  const ext = obj(json.typed_extension_protocol_options) ?? {};
  for (const [key, value] of Object.entries(ext)) {
    const path = `typed_extension_protocol_options["${key}"]`;
    const v = obj(value) ?? {};
    if (v["@type"] !== HTTP_PROTOCOL_OPTIONS) {
      p.add(path, `only envoy.extensions.upstreams.http.v3.HttpProtocolOptions is implemented, not ${JSON.stringify(v["@type"])}`);
      continue;
    }
    p.only(v, path, ["@type", "explicit_http_config", "use_downstream_protocol_config", "auto_config", "common_http_protocol_options", "upstream_http_protocol_options"]);
    const explicit = obj(v.explicit_http_config);
    if (explicit) {
      if (explicit.http2_protocol_options !== undefined) {
        protocol = "h2";
        h2Options(explicit.http2_protocol_options, `${path}.explicit_http_config.http2_protocol_options`);
      }
      else if (explicit.http_protocol_options !== undefined) protocol = "h1";
      else p.add(`${path}.explicit_http_config`, "only http_protocol_options (HTTP/1.1) and http2_protocol_options are implemented");
    } else if (v.use_downstream_protocol_config !== undefined) {
      protocol = "downstream";
    } else if (v.auto_config !== undefined) {
      p.add(`${path}.auto_config`, "auto_config needs TLS ALPN, which is not implemented; use explicit_http_config or use_downstream_protocol_config");
    }
    // No protocol selection at all (Envoy requires one; Skiff's translation sends only
    // common_http_protocol_options for connection-pool settings): keep the cluster's default.
    const c = obj(v.common_http_protocol_options);
    if (c) applyCommon(c, `${path}.common_http_protocol_options`);
  }

  const dnsRefreshMs = p.try("dns_refresh_rate", () => durationMs(json.dns_refresh_rate) ?? 5000, 5000);
  const fam = (json.dns_lookup_family ?? "AUTO") as string;
  const dnsFamily = fam === "V4_ONLY" ? "v4" : fam === "V6_ONLY" ? "v6" : "any";
  if (!["AUTO", "V4_ONLY", "V6_ONLY", "V4_PREFERRED", "ALL"].includes(fam)) p.add("dns_lookup_family", `unknown dns_lookup_family ${JSON.stringify(fam)}`);
  const cleanupIntervalMs = p.try("cleanup_interval", () => durationMs(json.cleanup_interval) ?? 5000, 5000);
  const od = obj(json.original_dst_lb_config);
  if (od) {
    p.only(od, "original_dst_lb_config", ["use_http_header"]);
    if (od.use_http_header === true) p.add("original_dst_lb_config.use_http_header", "picking the destination from x-envoy-original-dst-host is not implemented");
  }

  const sourceAddress = json.upstream_bind_config !== undefined ? parseBindConfig(obj(json.upstream_bind_config) ?? {}, p) : undefined;

  if (p.errors.length > 0) return { errors: p.errors };
  return {
    errors: [],
    cluster: {
      name, type: type as ClusterType, lbPolicy: lbPolicy as LbPolicyName, connectTimeoutMs, edsServiceName,
      endpoints, loadAssignment: la, thresholds, outlier, panicThresholdPercent: panic, localityWeighted,
      ringMin, ringMax, maglevTableSize, choiceCount, activeRequestBias, protocol, idleTimeoutMs,
      maxRequestsPerConnection, maxConnectionDurationMs, socketMatches, slowStart, tls, maxConcurrentStreams, dnsRefreshMs, dnsFamily, cleanupIntervalMs,
      sourceAddress,
    },
  };
}

/**
 * upstream_bind_config (BindConfig): the source address upstream connections are bound
 * to. Istio sets it on InboundPassthroughCluster under capture (127.0.0.6), which the
 * capture rules let through to the app instead of capturing the connection again.
 * Only source_address is implemented; the other BindConfig fields are errors when set.
 */
function parseBindConfig(bind: EnvoyJson, p: Problems): SourceAddress | undefined {
  const path = "upstream_bind_config";
  p.only(bind, path, ["source_address", "freebind", "socket_options", "extra_source_addresses", "additional_source_addresses"]);
  if (bind.freebind === true || obj(bind.freebind)?.value === true) p.add(`${path}.freebind`, "binding to a non-local address (freebind) is not implemented; leave it unset");
  for (const list of ["socket_options", "extra_source_addresses", "additional_source_addresses"] as const) {
    if (Array.isArray(bind[list]) && (bind[list] as unknown[]).length > 0) p.add(`${path}.${list}`, `${list} is not implemented; give one source_address`);
  }
  const sa = obj(bind.source_address);
  if (!sa) {
    p.add(`${path}.source_address`, "a bind config needs a source_address with the local IP address to connect from");
    return undefined;
  }
  const spath = `${path}.source_address`;
  p.only(sa, spath, ["address", "port_value", "protocol", "ipv4_compat"]);
  if (sa.protocol !== undefined && sa.protocol !== "TCP") p.add(`${spath}.protocol`, "only TCP is implemented");
  const address = typeof sa.address === "string" ? sa.address : "";
  // Envoy binds without resolving: the source must be an IP literal of this machine.
  if (isIP(address) === 0) p.add(`${spath}.address`, `${JSON.stringify(sa.address ?? "")} is not an IP address; give a local IPv4 or IPv6 address such as 127.0.0.6`);
  const port = Number(sa.port_value ?? 0);
  if (!Number.isInteger(port) || port < 0 || port > 65535) p.add(`${spath}.port_value`, `port ${JSON.stringify(sa.port_value)} is not a TCP port (0 = any, or 1–65535)`);
  return { address, port };
}

function isPrime(n: number): boolean {
  if (!Number.isInteger(n) || n < 2) return false;
  for (let i = 2; i * i <= n; i++) if (n % i === 0) return false;
  return true;
}

function parseThresholds(value: unknown, p: Problems): Thresholds {
  const t: Thresholds = { ...DEFAULT_THRESHOLDS };
  if (value === undefined) return t;
  const cb = obj(value) ?? {};
  p.only(cb, "circuit_breakers", ["thresholds"]);
  const list = Array.isArray(cb.thresholds) ? cb.thresholds : [];
  list.forEach((raw, i) => {
    const path = `circuit_breakers.thresholds[${i}]`;
    const th = obj(raw) ?? {};
    p.only(th, path, ["priority", "max_connections", "max_pending_requests", "max_requests", "max_retries", "track_remaining", "max_connection_pools"]);
    if (th.max_connection_pools !== undefined) p.add(`${path}.max_connection_pools`, "max_connection_pools is not implemented");
    // The router sends every request at DEFAULT priority, so HIGH thresholds never apply;
    // they are accepted so that configs carrying both levels still load.
    if ((th.priority ?? "DEFAULT") !== "DEFAULT") return;
    for (const key of ["max_connections", "max_pending_requests", "max_requests", "max_retries"] as const) {
      const n = p.try(`${path}.${key}`, () => wrappedNumber(th[key]), undefined);
      if (n !== undefined) t[key] = n;
    }
  });
  return t;
}

function parseOutlier(od: EnvoyJson, p: Problems): OutlierConfig {
  const path = "outlier_detection";
  p.only(od, path, [
    "consecutive_5xx", "consecutive_gateway_failure", "enforcing_consecutive_5xx", "enforcing_consecutive_gateway_failure",
    "interval", "base_ejection_time", "max_ejection_percent", "max_ejection_time", "split_external_local_origin_errors",
    "enforcing_success_rate", "success_rate_minimum_hosts", "success_rate_request_volume", "success_rate_stdev_factor",
    "enforcing_failure_percentage", "failure_percentage_threshold", "failure_percentage_minimum_hosts",
    "failure_percentage_request_volume", "max_ejection_time_jitter", "consecutive_local_origin_failure",
    "enforcing_consecutive_local_origin_failure", "enforcing_local_origin_success_rate",
    "enforcing_failure_percentage_local_origin",
  ]);
  const num = (key: string, dflt: number) => p.try(`${path}.${key}`, () => wrappedNumber(od[key]) ?? dflt, dflt);
  const dur = (key: string, dflt: number) => p.try(`${path}.${key}`, () => durationMs(od[key]) ?? dflt, dflt);
  // Success-rate and failure-percentage detection are not implemented; Istio disables
  // success rate with enforcing_success_rate 0, which is accepted.
  if (num("enforcing_success_rate", 100) !== 0 && (od.success_rate_minimum_hosts !== undefined || od.success_rate_request_volume !== undefined || od.success_rate_stdev_factor !== undefined)) {
    p.add(`${path}.success_rate_stdev_factor`, "success-rate outlier detection is not implemented; set enforcing_success_rate to 0");
  }
  if (num("enforcing_failure_percentage", 0) !== 0) p.add(`${path}.enforcing_failure_percentage`, "failure-percentage outlier detection is not implemented; leave enforcing_failure_percentage at 0");
  if (dur("max_ejection_time_jitter", 0) !== 0) p.add(`${path}.max_ejection_time_jitter`, "ejection time jitter is not implemented");
  return {
    consecutive5xx: num("consecutive_5xx", 5),
    consecutiveGatewayFailure: num("consecutive_gateway_failure", 5),
    enforcing5xx: num("enforcing_consecutive_5xx", 100),
    enforcingGatewayFailure: num("enforcing_consecutive_gateway_failure", 0),
    intervalMs: dur("interval", 10_000),
    baseEjectionMs: dur("base_ejection_time", 30_000),
    maxEjectionMs: dur("max_ejection_time", 300_000),
    maxEjectionPercent: num("max_ejection_percent", 10),
    splitLocalOrigin: od.split_external_local_origin_errors === true,
    consecutiveLocalOriginFailure: num("consecutive_local_origin_failure", 5),
    enforcingLocalOrigin: num("enforcing_consecutive_local_origin_failure", 100),
  };
}

/** Parse the endpoints of a ClusterLoadAssignment (inline or from EDS). */
function parseEndpoints(la: EnvoyJson, p: Problems, base: string): EndpointSpec[] {
  p.only(la, base, ["@type", "cluster_name", "endpoints", "policy", "named_endpoints"]);
  const policy = obj(la.policy);
  if (policy) {
    p.only(policy, `${base}.policy`, ["overprovisioning_factor", "endpoint_stale_after", "weighted_priority_health"]);
  }
  const out: EndpointSpec[] = [];
  const groups = Array.isArray(la.endpoints) ? la.endpoints : [];
  groups.forEach((rawGroup, gi) => {
    const gpath = base ? `${base}.endpoints[${gi}]` : `endpoints[${gi}]`;
    const g = obj(rawGroup) ?? {};
    p.only(g, gpath, ["locality", "lb_endpoints", "load_balancing_weight", "priority", "metadata", "proximity"]);
    const locality = (obj(g.locality) ?? {}) as Locality;
    const localityWeight = p.try(`${gpath}.load_balancing_weight`, () => wrappedNumber(g.load_balancing_weight) ?? 1, 1);
    const priority = p.try(`${gpath}.priority`, () => wrappedNumber(g.priority) ?? 0, 0);
    const lbs = Array.isArray(g.lb_endpoints) ? g.lb_endpoints : [];
    lbs.forEach((rawLb, li) => {
      const lpath = `${gpath}.lb_endpoints[${li}]`;
      const lb = obj(rawLb) ?? {};
      p.only(lb, lpath, ["endpoint", "health_status", "load_balancing_weight", "metadata", "endpoint_name"]);
      const ep = obj(lb.endpoint);
      if (!ep) {
        p.add(`${lpath}.endpoint`, "an lb_endpoint needs an endpoint with an address");
        return;
      }
      p.only(ep, `${lpath}.endpoint`, ["address", "hostname", "health_check_config", "additional_addresses"]);
      const sa = obj(obj(ep.address)?.socket_address);
      if (!sa) {
        p.add(`${lpath}.endpoint.address`, "only socket_address endpoints are implemented (no pipe or internal addresses)");
        return;
      }
      p.only(sa, `${lpath}.endpoint.address.socket_address`, ["address", "port_value", "protocol", "ipv4_compat", "resolver_name"]);
      if (sa.protocol !== undefined && sa.protocol !== "TCP") p.add(`${lpath}.endpoint.address.socket_address.protocol`, "only TCP endpoints are implemented");
      const address = typeof sa.address === "string" ? sa.address : "";
      const port = Number(sa.port_value ?? 0);
      if (!address) p.add(`${lpath}.endpoint.address.socket_address.address`, "the endpoint address is empty");
      if (!Number.isInteger(port) || port <= 0 || port > 65535) p.add(`${lpath}.endpoint.address.socket_address.port_value`, `port ${JSON.stringify(sa.port_value)} is not a TCP port (1–65535)`);
      const healthStatus = (lb.health_status ?? "UNKNOWN") as string;
      if (!HEALTH.has(healthStatus)) p.add(`${lpath}.health_status`, `unknown health_status ${JSON.stringify(healthStatus)}`);
      const weight = p.try(`${lpath}.load_balancing_weight`, () => wrappedNumber(lb.load_balancing_weight) ?? 1, 1);
      if (weight < 1) p.add(`${lpath}.load_balancing_weight`, `weight must be at least 1, got ${weight}`);
      out.push({
        path: lpath, address, port, weight, healthStatus: healthStatus as HealthStatus, locality, localityWeight, priority,
        hostname: typeof ep.hostname === "string" && ep.hostname ? ep.hostname : undefined,
        metadata: obj(lb.metadata),
      });
    });
  });
  return out;
}

/** Parse one ClusterLoadAssignment from EDS. */
export function parseLoadAssignment(json: EnvoyJson): { name: string; endpoints?: EndpointSpec[]; errors: ResourceError[] } {
  const name = typeof json.cluster_name === "string" ? json.cluster_name : "";
  const p = new Problems(name || "<unnamed>", "ClusterLoadAssignment");
  if (!name) p.add("cluster_name", "a ClusterLoadAssignment needs a cluster_name");
  const endpoints = parseEndpoints(json, p, "");
  return p.errors.length ? { name, errors: p.errors } : { name, endpoints, errors: [] };
}

/** The transport_socket_matches entry an endpoint uses: the first whose keys all equal its metadata. */
export function matchSocket(matches: readonly SocketMatch[], spec: Pick<EndpointSpec, "metadata">): SocketMatch | undefined {
  const fm = obj(spec.metadata?.filter_metadata);
  const meta = obj(fm?.["envoy.transport_socket_match"]) ?? {};
  return matches.find((m) => Object.entries(m.match).every(([k, v]) => meta[k] === v));
}
