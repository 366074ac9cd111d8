// The per-request facts an access log line is formatted from. The proxy fills one
// record per request (or reuses one per connection: resetAccessLogRecord puts it
// back to its initial state without reallocating) and hands it to a compiled
// formatter. Every field is always present, so the object keeps one shape.

/** Node's header object shape: lower-case names, repeated headers as arrays. */
export type HeaderBag = Readonly<Record<string, string | string[] | undefined>>;

export interface AccessLogRecord {
  /** Wall-clock start of the request, epoch milliseconds (Date.now()). `%START_TIME%`. */
  startTimeMs: number;
  /** Sub-millisecond part of the start, in nanoseconds 0..999999, for `%6f`/`%9f`; 0 if unknown. */
  startTimeSubMsNs: number;

  /** `:method`, `:path`, `:authority`, `:scheme` — HTTP/1 has no pseudo-headers, so they live here. */
  method: string;
  path: string;
  authority: string;
  scheme: string;
  /** Request headers as received (lower-case names). `%REQ(X)%`. */
  requestHeaders: HeaderBag;
  /** Response headers as sent downstream. `%RESP(X)%`. */
  responseHeaders: HeaderBag;
  /** Response trailers. `%TRAILER(X)%`. */
  responseTrailers: HeaderBag;

  /** `HTTP/1.0`, `HTTP/1.1`, `HTTP/2`, `HTTP/3`; empty for TCP (prints `-`). `%PROTOCOL%`. */
  protocol: string;
  /** Status sent downstream; 0 when none was sent (Envoy prints 0). `%RESPONSE_CODE%`. */
  responseCode: number;
  /** Why that code, e.g. `via_upstream`, `route_not_found`. `%RESPONSE_CODE_DETAILS%`. */
  responseCodeDetails: string;
  /** Envoy's short flags, comma-separated (`UF,URX`); empty or `-` when none. `%RESPONSE_FLAGS%`. */
  responseFlags: string;
  /** Why the connection was closed, when the proxy closed it. `%CONNECTION_TERMINATION_DETAILS%`. */
  connectionTerminationDetails: string;
  /** TLS/connect failure text from the upstream. `%UPSTREAM_TRANSPORT_FAILURE_REASON%`. */
  upstreamTransportFailureReason: string;

  /** Body bytes received from downstream / sent to downstream. `%BYTES_RECEIVED%`, `%BYTES_SENT%`. */
  bytesReceived: number;
  bytesSent: number;
  /** Total duration, ms, start to last byte sent. -1 when unknown. `%DURATION%`. */
  durationMs: number;
  /** Start to last request byte received, ms; -1 unknown. `%REQUEST_DURATION%`. */
  requestDurationMs: number;
  /** Start to first upstream response byte, ms; -1 unknown. `%RESPONSE_DURATION%`. */
  responseDurationMs: number;
  /** First to last response byte sent downstream, ms; -1 unknown. `%RESPONSE_TX_DURATION%`. */
  responseTxDurationMs: number;

  /** `ip:port` of the chosen upstream host; empty when none. `%UPSTREAM_HOST%`. */
  upstreamHost: string;
  /** Upstream cluster name. `%UPSTREAM_CLUSTER%` and `%UPSTREAM_CLUSTER_RAW%`. */
  upstreamCluster: string;
  /** Local `ip:port` of the upstream connection. `%UPSTREAM_LOCAL_ADDRESS%`. */
  upstreamLocalAddress: string;
  /** Attempts made upstream (1 + retries); 0 when never sent. `%UPSTREAM_REQUEST_ATTEMPT_COUNT%`. */
  upstreamRequestAttemptCount: number;

  /** Listener-side `ip:port` (original destination when captured). `%DOWNSTREAM_LOCAL_ADDRESS%`. */
  downstreamLocalAddress: string;
  /** Client `ip:port`, after x-forwarded-for trust. `%DOWNSTREAM_REMOTE_ADDRESS%`. */
  downstreamRemoteAddress: string;
  /** Peer `ip:port` of the TCP connection. `%DOWNSTREAM_DIRECT_REMOTE_ADDRESS%`. */
  downstreamDirectRemoteAddress: string;
  /** SNI of the downstream TLS connection. `%REQUESTED_SERVER_NAME%`. */
  requestedServerName: string;
  /** Name of the matched route. `%ROUTE_NAME%`. */
  routeName: string;
  /** gRPC status (number) when the request was gRPC, else -1. `%GRPC_STATUS%`. */
  grpcStatus: number;
  /** Peer certificate URI SAN (SPIFFE id). `%DOWNSTREAM_PEER_URI_SAN%`. */
  downstreamPeerUriSan: string;
  /** Local certificate URI SAN. `%DOWNSTREAM_LOCAL_URI_SAN%`. */
  downstreamLocalUriSan: string;
}

const EMPTY_HEADERS: HeaderBag = Object.freeze({});

export function newAccessLogRecord(): AccessLogRecord {
  const r = {} as AccessLogRecord;
  resetAccessLogRecord(r);
  return r;
}

/** Back to the initial state, keeping the object (and its hidden class). */
export function resetAccessLogRecord(r: AccessLogRecord): void {
  r.startTimeMs = 0;
  r.startTimeSubMsNs = 0;
  r.method = "";
  r.path = "";
  r.authority = "";
  r.scheme = "";
  r.requestHeaders = EMPTY_HEADERS;
  r.responseHeaders = EMPTY_HEADERS;
  r.responseTrailers = EMPTY_HEADERS;
  r.protocol = "";
  r.responseCode = 0;
  r.responseCodeDetails = "";
  r.responseFlags = "";
  r.connectionTerminationDetails = "";
  r.upstreamTransportFailureReason = "";
  r.bytesReceived = 0;
  r.bytesSent = 0;
  r.durationMs = -1;
  r.requestDurationMs = -1;
  r.responseDurationMs = -1;
  r.responseTxDurationMs = -1;
  r.upstreamHost = "";
  r.upstreamCluster = "";
  r.upstreamLocalAddress = "";
  r.upstreamRequestAttemptCount = 0;
  r.downstreamLocalAddress = "";
  r.downstreamRemoteAddress = "";
  r.downstreamDirectRemoteAddress = "";
  r.requestedServerName = "";
  r.routeName = "";
  r.grpcStatus = -1;
  r.downstreamPeerUriSan = "";
  r.downstreamLocalUriSan = "";
}

/** Envoy's response flags: short and long spelling, in Envoy's order. */
export const RESPONSE_FLAGS: readonly (readonly [short: string, long: string])[] = [
  ["LH", "FailedLocalHealthCheck"],
  ["UH", "NoHealthyUpstream"],
  ["UT", "UpstreamRequestTimeout"],
  ["LR", "LocalReset"],
  ["UR", "UpstreamRemoteReset"],
  ["UF", "UpstreamConnectionFailure"],
  ["UC", "UpstreamConnectionTermination"],
  ["UO", "UpstreamOverflow"],
  ["NR", "NoRouteFound"],
  ["DI", "DelayInjected"],
  ["FI", "FaultInjected"],
  ["RL", "RateLimited"],
  ["UAEX", "UnauthorizedExternalService"],
  ["RLSE", "RateLimitServiceError"],
  ["DC", "DownstreamConnectionTermination"],
  ["URX", "UpstreamRetryLimitExceeded"],
  ["SI", "StreamIdleTimeout"],
  ["IH", "InvalidEnvoyRequestHeaders"],
  ["DPE", "DownstreamProtocolError"],
  ["UMSDR", "UpstreamMaxStreamDurationReached"],
  ["RFCF", "ResponseFromCacheFilter"],
  ["NFCF", "NoFilterConfigFound"],
  ["DT", "DurationTimeout"],
  ["UPE", "UpstreamProtocolError"],
  ["NC", "NoClusterFound"],
  ["OM", "OverloadManagerTerminated"],
  ["DF", "DnsResolutionFailed"],
  ["DO", "DropOverload"],
  ["DR", "DownstreamRemoteReset"],
  ["UDO", "UnconditionalDropOverload"],
];

const shortToLong = new Map(RESPONSE_FLAGS.map(([s, l]) => [s, l]));
const longCache = new Map<string, string>();

/** `UF,URX` → `UpstreamConnectionFailure,UpstreamRetryLimitExceeded`; `-` when none. */
export function longResponseFlags(short: string): string {
  if (short === "" || short === "-") return "-";
  let cached = longCache.get(short);
  if (cached === undefined) {
    cached = short
      .split(",")
      .map((s) => shortToLong.get(s.trim()) ?? s.trim())
      .join(",");
    if (longCache.size < 1024) longCache.set(short, cached);
  }
  return cached;
}
