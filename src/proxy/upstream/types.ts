// The contract between the proxy's front half (xDS client, router, admin) and its upstream
// half (clusters, load balancing, connection pools, circuit breakers, outlier detection,
// TCP proxying). The front half imports these types and the implementations only through
// ./index.ts.
//
// Lifecycle, as the xDS client drives it:
//   1. CDS response → `manager.applyClusters(all clusters)` (state of the world: a cluster
//      missing from the list is removed). Any error → nothing is applied and the errors are
//      the NACK's error_detail; the previous clusters stay in effect.
//   2. `manager.edsResourceNames()` (or the `onChange` event) tells which ClusterLoadAssignment
//      names to subscribe to. EDS clusters are "warming" until their assignment arrives.
//   3. EDS response → `manager.applyEndpoints(assignments)` (only the named assignments change).
//   4. The router: `cluster = manager.get(name)`, `host = cluster.selectHost(ctx)`,
//      `result = await cluster.httpRequest(host, req)`; retries go through
//      `cluster.acquireRetry()`.
//   5. TCP listeners: `tcpProxy(socket, manager.get(name), ctx, opts)`.
import type { Readable } from "node:stream";
import type { Socket } from "node:net";
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from "node:http";
import type { CancelSignal } from "../cancel.ts";

/** Envoy v3 resource in proto3 JSON with Envoy's snake_case names (as config_dump prints it). */
export type EnvoyJson = Record<string, unknown>;

// ---------------------------------------------------------------------------------------------
// Applying xDS resources

/** One reason a resource cannot be honoured; the front half joins these into a NACK. */
export interface ResourceError {
  /** Cluster name (CDS) or cluster_name of the ClusterLoadAssignment (EDS). */
  resource: string;
  /** Field path inside the resource, e.g. `lb_policy` or `circuit_breakers.thresholds[0].priority`. */
  field: string;
  /** Full sentence: what is wrong and what would be accepted. Already names resource and field. */
  message: string;
}

export interface ApplyResult {
  /** True when everything was applied; false when nothing was (errors say why). */
  ok: boolean;
  errors: ResourceError[];
}

export interface ClusterChangeEvent {
  added: string[];
  removed: string[];
  updated: string[];
  /** The full set of EDS resource names to subscribe to after this change. */
  edsResourceNames: string[];
}

export type ClusterType = "STATIC" | "STRICT_DNS" | "LOGICAL_DNS" | "EDS" | "ORIGINAL_DST";

export type LbPolicyName = "ROUND_ROBIN" | "LEAST_REQUEST" | "RANDOM" | "RING_HASH" | "MAGLEV" | "CLUSTER_PROVIDED";

// ---------------------------------------------------------------------------------------------
// Hosts and load balancing

/** Envoy's core.v3.HealthStatus names. */
export type HealthStatus = "UNKNOWN" | "HEALTHY" | "UNHEALTHY" | "DRAINING" | "TIMEOUT" | "DEGRADED";

export interface Locality {
  region?: string;
  zone?: string;
  sub_zone?: string;
}

/** Per-host counters shown by the admin `/clusters` page (Envoy prints the same names). */
export interface HostStats {
  rq_total: number;
  rq_success: number;
  rq_error: number;
  rq_timeout: number;
  rq_active: number;
  cx_total: number;
  cx_active: number;
  cx_connect_fail: number;
}

/** One upstream endpoint. Owned by its cluster; treat as read-only outside src/proxy/upstream. */
export interface Host {
  /** IP or hostname as given (STRICT_DNS hosts carry the resolved IP). */
  readonly address: string;
  readonly port: number;
  /** `address:port` (IPv6 in brackets), the key used in `/clusters`. */
  readonly key: string;
  /** load_balancing_weight, default 1. */
  readonly weight: number;
  readonly healthStatus: HealthStatus;
  readonly locality: Locality;
  /** Locality's load_balancing_weight when the cluster uses locality weighting, else 1. */
  readonly localityWeight: number;
  readonly priority: number;
  /** The endpoint's hostname field (used for auto_host_rewrite). */
  readonly hostname?: string;
  readonly metadata?: EnvoyJson;
  /** True while outlier detection has ejected it. */
  readonly ejected: boolean;
  readonly stats: HostStats;
}

/** What the router knows about the request that the load balancer may use. */
export interface LbContext {
  /** From the route's hash_policy (see `hashKey`); RING_HASH and MAGLEV use it, others ignore it. */
  hash?: bigint;
  /** Downstream remote address (logging; the router turns source_ip hash policies into `hash`). */
  downstreamAddress?: string;
  /** Hosts already tried by this request (retry_host_predicate previous_hosts): avoided when possible. */
  previousHosts?: ReadonlySet<Host>;
  /** ORIGINAL_DST clusters: where the connection or request was originally going. */
  originalDestination?: { address: string; port: number };
}

// ---------------------------------------------------------------------------------------------
// HTTP requests over connection pools

export interface UpstreamHttpRequest {
  method: string;
  /** Path with query string, as sent upstream (after rewrites). */
  path: string;
  /** :authority / Host header value. */
  authority: string;
  /** Request headers without pseudo-headers and without connection-specific headers. */
  headers: OutgoingHttpHeaders;
  /** Request body, piped upstream; absent means no body. */
  body?: Readable;
  /**
   * Aborting cancels the upstream request (h1: the connection is destroyed; h2: RST_STREAM).
   * An AbortSignal will do; the router passes a lighter Cancellation (../cancel.ts).
   */
  signal?: CancelSignal;
  /** HTTP/1.1 upgrade request (WebSocket): the result is "upgrade" on 101. */
  upgrade?: boolean;
  /**
   * The downstream protocol; used when the cluster says use_downstream_protocol_config
   * (Istio's inbound clusters): h2 downstream → h2 upstream. Defaults to "h1".
   */
  downstreamProtocol?: "h1" | "h2";
}

export interface UpstreamHttpResponse {
  kind: "response";
  host: Host;
  status: number;
  /** Response headers (lower-case names, no pseudo-headers). */
  headers: IncomingHttpHeaders;
  /** Response body stream; consume it fully or destroy it. */
  body: Readable;
  /** Trailers, available once `body` has ended (gRPC status lives here). */
  trailers(): Record<string, string>;
  /** "h1" or "h2": the protocol used upstream. */
  protocol: "h1" | "h2";
}

export interface UpstreamUpgrade {
  kind: "upgrade";
  host: Host;
  status: 101;
  headers: IncomingHttpHeaders;
  /** The upstream socket after the 101; pipe it with the downstream socket. */
  socket: Socket;
  /** Bytes the upstream already sent after the 101 headers. */
  head: Buffer;
}

/** Which circuit breaker refused (Envoy's response flag UO). */
export type OverflowReason = "max_connections" | "max_pending_requests" | "max_requests" | "max_retries";

export interface UpstreamOverflow {
  kind: "overflow";
  reason: OverflowReason;
}

/**
 * A request that got no response. Maps to Envoy response flags:
 *  - "connect": connection refused / connect timeout → UF (retry_on connect-failure)
 *  - "reset": the connection or stream was reset before a complete response → UC (h1 connection
 *    closed) or UR (remote reset); retry_on reset
 *  - "refused_stream": h2 REFUSED_STREAM → retry_on refused-stream
 *  - "aborted": the caller's signal aborted the request (the router's timeout or a downstream
 *    disconnect); the router knows which and sets UT or DC.
 */
export type UpstreamFailureKind = "connect" | "reset" | "refused_stream" | "aborted";

export interface UpstreamFailure {
  kind: "failure";
  failure: UpstreamFailureKind;
  host: Host;
  /** Human-readable detail (e.g. `connect ECONNREFUSED 127.0.0.1:9`), for logs and local replies. */
  detail: string;
  /** "UF", "UC" or "UR": the flag Envoy would set for this failure (not set for "aborted"). */
  responseFlag?: "UF" | "UC" | "UR";
}

export type UpstreamHttpResult = UpstreamHttpResponse | UpstreamUpgrade | UpstreamOverflow | UpstreamFailure;

/**
 * Outcomes fed to outlier detection. `httpRequest` already reports what it observes (the
 * response status, connect failures, resets); the router reports only what it decides
 * itself, i.e. per-try timeouts: `reportOutcome(host, { localFailure: "timeout" })`.
 */
export type RequestOutcome = { status: number } | { localFailure: "connect" | "reset" | "timeout" };

// ---------------------------------------------------------------------------------------------
// Stats

export type StatKind = "counter" | "gauge";

/** One stat as the admin endpoint prints it. */
export interface StatEntry {
  /** Envoy's dotted name, e.g. `cluster.outbound|80||a.default.svc.cluster.local.upstream_rq_total`. */
  name: string;
  /** The stat without its cluster prefix, e.g. `upstream_rq_total`. */
  stat: string;
  cluster: string;
  kind: StatKind;
  value: number;
}

/** Cluster-level counters and gauges, named exactly as Envoy names them. */
export interface ClusterStats {
  upstream_rq_total: number;
  upstream_rq_completed: number;
  upstream_rq_1xx: number;
  upstream_rq_2xx: number;
  upstream_rq_3xx: number;
  upstream_rq_4xx: number;
  upstream_rq_5xx: number;
  upstream_rq_active: number;
  upstream_rq_pending_total: number;
  upstream_rq_pending_active: number;
  upstream_rq_pending_overflow: number;
  upstream_rq_timeout: number;
  upstream_rq_per_try_timeout: number;
  upstream_rq_retry: number;
  upstream_rq_retry_overflow: number;
  upstream_rq_rx_reset: number;
  upstream_rq_tx_reset: number;
  upstream_rq_cancelled: number;
  upstream_cx_total: number;
  upstream_cx_active: number;
  upstream_cx_http1_total: number;
  upstream_cx_http2_total: number;
  upstream_cx_connect_fail: number;
  upstream_cx_destroy: number;
  upstream_cx_overflow: number;
  upstream_cx_idle_timeout: number;
  upstream_cx_max_requests: number;
  upstream_cx_rx_bytes_total: number;
  upstream_cx_tx_bytes_total: number;
  upstream_cx_none_healthy: number;
  membership_healthy: number;
  membership_degraded: number;
  membership_total: number;
  membership_change: number;
  outlier_detection_ejections_active: number;
  outlier_detection_ejections_enforced_total: number;
  outlier_detection_ejections_enforced_consecutive_5xx: number;
  outlier_detection_ejections_enforced_consecutive_gateway_failure: number;
  outlier_detection_ejections_detected_consecutive_5xx: number;
  outlier_detection_ejections_detected_consecutive_gateway_failure: number;
  outlier_detection_ejections_overflow: number;
  outlier_detection_ejections_detected_consecutive_local_origin_failure: number;
  outlier_detection_ejections_enforced_consecutive_local_origin_failure: number;
  update_success: number;
  update_empty: number;
}

/** Stats that are gauges (the rest are counters). */
export const GAUGE_STATS: ReadonlySet<keyof ClusterStats> = new Set<keyof ClusterStats>([
  "upstream_rq_active",
  "upstream_rq_pending_active",
  "upstream_cx_active",
  "membership_healthy",
  "membership_degraded",
  "membership_total",
  "outlier_detection_ejections_active",
]);

// ---------------------------------------------------------------------------------------------
// Clusters

export interface UpstreamCluster {
  readonly name: string;
  readonly type: ClusterType;
  readonly lbPolicy: LbPolicyName;
  /** The Cluster resource as received (for config_dump). */
  readonly config: EnvoyJson;
  /** True while an EDS cluster waits for its first assignment (listeners naming it keep warming). */
  readonly warming: boolean;
  readonly stats: ClusterStats;
  /** All hosts (all priorities), for `/clusters`. */
  hosts(): readonly Host[];
  /**
   * Pick a host, or null when there is none (the router answers 503 UH and counts
   * `stats.upstream_cx_none_healthy`; tcpProxy closes and counts it itself).
   * ORIGINAL_DST: the host for `ctx.originalDestination` (created on first use).
   */
  selectHost(ctx: LbContext): Host | null;
  /**
   * Send one request to `host` through the host's pool, honouring the circuit breakers
   * (max_connections, max_pending_requests, max_requests). Never throws for upstream
   * problems: they come back as "failure" or "overflow". Updates stats and outlier detection.
   */
  httpRequest(host: Host, req: UpstreamHttpRequest): Promise<UpstreamHttpResult>;
  /**
   * Take a retry slot from the max_retries breaker before retrying. Returns a release
   * function to call when the retry attempt finishes, or null on overflow (→ the router stops
   * retrying; Envoy counts upstream_rq_retry_overflow and flags URX/UO).
   */
  acquireRetry(): (() => void) | null;
  /**
   * Feed outlier detection with an outcome the router observed itself (per-try timeout:
   * also counts the host's rq_timeout). The router increments the cluster counters only it
   * can know itself on `stats`: upstream_rq_timeout, upstream_rq_per_try_timeout.
   * (`acquireRetry` counts upstream_rq_retry and upstream_rq_retry_overflow.)
   */
  reportOutcome(host: Host, outcome: RequestOutcome): void;
}

/** What `/clusters` and config_dump need about one cluster. */
export interface ClusterDump {
  name: string;
  config: EnvoyJson;
  /** The last ClusterLoadAssignment applied (EDS) or the inline load_assignment. */
  loadAssignment?: EnvoyJson;
  warming: boolean;
  lastUpdated: Date;
  stats: ClusterStats;
  /** Circuit breaker thresholds in effect (DEFAULT priority). */
  circuitBreakers: { max_connections: number; max_pending_requests: number; max_requests: number; max_retries: number };
  hosts: Array<{
    address: string;
    port: number;
    weight: number;
    locality: Locality;
    priority: number;
    hostname?: string;
    healthStatus: HealthStatus;
    /** Envoy's health_flags words: `healthy`, `/failed_outlier_check`, `/eds_status_draining`, ... */
    healthFlags: string;
    stats: HostStats;
  }>;
}

export interface ClusterManagerOptions {
  /** Injected clock (ms since epoch) for outlier detection and idle cleanup; Date.now by default. */
  now?: () => number;
  /** Injected random source in [0,1) for RANDOM, LEAST_REQUEST and enforcing_* percentages. */
  random?: () => number;
  /** Injected timer scheduling (outlier interval sweeps, DNS refresh, ORIGINAL_DST cleanup). */
  setInterval?: (fn: () => void, ms: number) => unknown;
  clearInterval?: (handle: unknown) => void;
  /** Resolver for STRICT_DNS/LOGICAL_DNS (defaults to node:dns lookup with all: true). */
  resolve?: (hostname: string, family: "v4" | "v6" | "any") => Promise<string[]>;
  /**
   * SDS secrets by name (tls_certificate_sds_secret_configs / validation_context_sds_secret_config),
   * looked up at each new TLS connection so rotation needs no cluster update. A missing
   * secret makes that connection fail as a connect failure (UF) naming the secret.
   */
  secrets?: (name: string) => TlsSecret | undefined;
}

/** An SDS secret's material in PEM. */
export interface TlsSecret {
  certificateChain?: string;
  privateKey?: string;
  trustedCa?: string;
}

export interface ClusterManagerApi {
  applyClusters(clusters: EnvoyJson[]): ApplyResult;
  applyEndpoints(loadAssignments: EnvoyJson[]): ApplyResult;
  get(name: string): UpstreamCluster | undefined;
  names(): string[];
  /** EDS resource names (eds_cluster_config.service_name, or the cluster name) to subscribe to. */
  edsResourceNames(): string[];
  /** Names of clusters still warming. */
  warmingClusters(): string[];
  /** Subscribe to cluster set changes; returns an unsubscribe function. */
  onChange(listener: (event: ClusterChangeEvent) => void): () => void;
  dump(): ClusterDump[];
  /** Every cluster stat, in a stable order (cluster name, then stat name). */
  stats(): StatEntry[];
  /** Stop timers, close every pool and connection. */
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// TCP proxy

export interface TcpProxyOptions {
  /** tcp_proxy idle_timeout; Envoy's default is 1 h; 0 disables. */
  idleTimeoutMs?: number;
  /** Connect timeout; the cluster's connect_timeout when absent. */
  connectTimeoutMs?: number;
  /** Called once when both sides are closed: for the access log. */
  onClose?: (info: TcpProxySessionInfo) => void;
  /**
   * Called once the upstream connection is up (TLS: handshake done), before any byte flows:
   * may write a preamble first; upstream bytes reach the downstream once it resolves
   * (Istio's TCP metadata exchange, src/proxy/telemetry-tcp.ts).
   */
  upstreamExchange?: (upstream: Socket) => Promise<void>;
}

export interface TcpProxySessionInfo {
  /** Envoy response flags: UH (no healthy host), UF (connect failure), UO (max_connections overflow). */
  responseFlags: string[];
  host?: Host;
  bytesReceived: number;
  bytesSent: number;
  /** Why it ended: "downstream_close", "upstream_close", "idle_timeout", "connect_failure", "no_host", "overflow", "blackhole". */
  reason: string;
}
