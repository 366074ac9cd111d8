// The per-request context: everything that later filters (stats, access log, tracing)
// want to read about one request, in one object with a fixed shape.
//
// WHY a class with every field initialised in the constructor: V8 gives all instances
// the same hidden class, so readers are monomorphic and fast. Response flags are a bit
// set (one number) rather than an array of strings, so recording a flag allocates
// nothing; the Envoy spelling ("UF,URX") is produced only when someone prints it.
// Contexts are pooled per HTTP connection manager (acquire/release) so a busy proxy
// does not allocate a fresh context per request.

/**
 * Envoy's response flags, in the order of Envoy's StreamInfo::ResponseFlag enum: the
 * `%RESPONSE_FLAGS%` text lists set flags in this order (e.g. "UT,URX"), so access
 * logs and the `response_flags` metric label read exactly as Envoy's would.
 */
export const ResponseFlag = {
  UH: 1 << 0, // no healthy upstream host
  UT: 1 << 1, // upstream request timeout
  LR: 1 << 2, // connection local reset
  UR: 1 << 3, // upstream remote reset
  UF: 1 << 4, // upstream connection failure
  UC: 1 << 5, // upstream connection termination
  UO: 1 << 6, // upstream overflow (circuit breaker)
  NR: 1 << 7, // no route configured
  DI: 1 << 8, // request delayed by fault injection
  FI: 1 << 9, // request aborted by fault injection
  RL: 1 << 10, // rate limited
  UAEX: 1 << 11, // unauthorized by external authz
  DC: 1 << 12, // downstream connection termination
  URX: 1 << 13, // upstream retry limit exceeded
  UMSDR: 1 << 14, // upstream max stream duration reached
  DT: 1 << 15, // downstream request timeout (Envoy's DurationTimeout)
  NC: 1 << 16, // no cluster found
} as const;

export type ResponseFlagName = keyof typeof ResponseFlag;

const flagOrder = Object.keys(ResponseFlag) as ResponseFlagName[];

/** Envoy's `%RESPONSE_FLAGS%` text: comma-separated, `-` when none. */
export function formatResponseFlags(flags: number): string {
  if (flags === 0) return "-";
  let out = "";
  for (const name of flagOrder) {
    if (flags & ResponseFlag[name]) out = out === "" ? name : `${out},${name}`;
  }
  return out;
}

export class RequestContext {
  requestId = "";
  method = "";
  path = "";
  authority = "";
  protocol = "";
  downstreamRemoteAddress = "";
  listenerName = "";
  routeConfigName = "";
  virtualHostName = "";
  routeName = "";
  clusterName = "";
  upstreamHost = "";
  /** The downstream socket's own peer address (not x-forwarded-for's client); RBAC direct_remote_ip. */
  directRemoteAddress = "";
  /** Where the downstream connected to (the original destination); RBAC destination_ip/port. */
  downstreamLocalAddress = "";
  downstreamLocalPort = 0;
  /** The downstream's URI SAN (SPIFFE ID) from its client certificate; "" when plaintext. */
  peerPrincipal = "";
  /** The SNI the downstream sent; "" when none. */
  requestedServerName = "";
  /** Envoy's %RESPONSE_CODE_DETAILS% when a filter answered (e.g. rbac_access_denied_matched_policy[none]). */
  responseCodeDetails = "";
  /** Dynamic metadata by filter name (jwt_authn payloads that RBAC reads); undefined until a filter sets some. */
  dynamicMetadata: Record<string, Record<string, unknown>> | undefined = undefined;
  responseCode = 0;
  responseFlags = 0;
  attempts = 0;
  bytesReceived = 0;
  bytesSent = 0;
  /** process.hrtime.bigint() at start; a bigint so durations need no Date objects. */
  startNs = 0n;
  upstreamStartNs = 0n;
  endNs = 0n;

  reset(): void {
    this.requestId = "";
    this.method = "";
    this.path = "";
    this.authority = "";
    this.protocol = "";
    this.downstreamRemoteAddress = "";
    this.listenerName = "";
    this.routeConfigName = "";
    this.virtualHostName = "";
    this.routeName = "";
    this.clusterName = "";
    this.upstreamHost = "";
    this.directRemoteAddress = "";
    this.downstreamLocalAddress = "";
    this.downstreamLocalPort = 0;
    this.peerPrincipal = "";
    this.requestedServerName = "";
    this.responseCodeDetails = "";
    this.dynamicMetadata = undefined;
    this.responseCode = 0;
    this.responseFlags = 0;
    this.attempts = 0;
    this.bytesReceived = 0;
    this.bytesSent = 0;
    this.startNs = 0n;
    this.upstreamStartNs = 0n;
    this.endNs = 0n;
  }

  setFlag(flag: number): void {
    this.responseFlags |= flag;
  }

  hasFlag(flag: number): boolean {
    return (this.responseFlags & flag) !== 0;
  }

  durationMs(): number {
    return Number(this.endNs - this.startNs) / 1e6;
  }
}

/** A tiny free list of contexts; bounded so a burst does not pin memory forever. */
export class RequestContextPool {
  private readonly free: RequestContext[] = [];
  constructor(private readonly max = 1024) {}

  acquire(): RequestContext {
    return this.free.pop() ?? new RequestContext();
  }

  release(ctx: RequestContext): void {
    if (this.free.length >= this.max) return;
    ctx.reset();
    this.free.push(ctx);
  }
}

/**
 * Observers run when a request completes (stats, access log, tracing). They get the
 * context and must not keep it: it goes back to the pool right after.
 */
export type RequestObserver = (ctx: RequestContext) => void;
