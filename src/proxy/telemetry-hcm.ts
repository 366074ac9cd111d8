// What one HTTP connection manager does for telemetry: it finds the istio.metadata_exchange
// and istio.stats filters in its chain and reads its `access_log` and `tracing` fields,
// then per request:
//   begin()            after the proxy headers are set: learn the peer (server side) or
//                      announce ourselves (client side); extract the trace context, decide
//                      sampling, start this hop's span and propagate its context upstream;
//   onResponseHeaders  just before the response head is written: learn the peer from the
//                      upstream's headers (client side) and strip them, or add ours (server);
//   complete()         when the response ends: fill the AccessLogRecord once, then write
//                      access logs, count Istio's metrics and finish/export the span.
//
// WHY the per-request state is pooled and metric handles live on the decoded peer:
// label tuples are resolved once per (peer, destination service) and a request only walks
// the last four labels (code, grpc status, flags, security policy), with no strings built.
import { isIP } from "node:net";
import {
  ISTIO_PEER_LABEL_COUNT,
  decideSampling,
  extractTraceContext,
  finishSpan,
  httpSpanTags,
  injectTraceContext,
  istioLabelValues,
  newAccessLogRecord,
  resetAccessLogRecord,
  startSpan,
  type AccessLogRecord,
  type IstioFamilies,
  type SeriesPrefix,
  type Span,
} from "../telemetry/index.ts";
import { obj, type Json } from "./json.ts";
import type { Exchange, HttpFilter } from "./http-filter.ts";
import { isGrpcContent, type HeaderMap } from "./header-mutation.ts";
import type { Readable } from "node:stream";
import { GrpcFrameCounter } from "./telemetry-grpc.ts";
import type { HeaderBag } from "../telemetry/index.ts";
import { ResponseFlag, formatResponseFlags, type RequestContext } from "./request-context.ts";
import { celActivation, compileAccessLogs, writeAccessLogs, type AccessLogSink } from "./filters/access-log.ts";
import { IstioStatsFilter, type DynamicDimension } from "./filters/stats.ts";
import { MetadataExchangeFilter } from "./filters/metadata-exchange.ts";
import { parseTracingConfig, type TracingConfig } from "./filters/tracing.ts";
import { PEER_METADATA_HEADER, PEER_METADATA_ID_HEADER, type PeerInfo } from "./telemetry-peer.ts";
import type { DestinationService, ProxyTelemetry } from "./telemetry-proxy.ts";

/** What telemetry reads of a request in flight (HttpStream implements it). */
export type TelemetryStream = Pick<Exchange, "ctx" | "method" | "path" | "authority" | "scheme" | "headers"> & {
  /** The downstream request body (gRPC message counting). */
  readonly body?: Readable;
};

interface PeerHandles {
  requestMessages: SeriesPrefix;
  responseMessages: SeriesPrefix;
  requests: SeriesPrefix;
  duration: SeriesPrefix;
  requestBytes: SeriesPrefix;
  responseBytes: SeriesPrefix;
}

/** One request's telemetry state; pooled per HCM. */
export class RequestTelemetry {
  readonly record: AccessLogRecord = newAccessLogRecord();
  peer: PeerInfo | undefined = undefined;
  span: Span | undefined = undefined;
  sampled = false;
  startMs = 0;
  responseHeaders: HeaderMap | undefined = undefined;
  responseTrailers: Record<string, string> | undefined = undefined;
  /** gRPC requests under istio.stats only: messages each way. */
  grpc = false;
  /** Bumped on reset, so a listener left on a finished request's body stops counting. */
  generation = 0;
  readonly requestFrames = new GrpcFrameCounter();
  readonly responseFrames = new GrpcFrameCounter();
  constructor(readonly owner: HcmTelemetry) {}

  onResponseData(chunk: Buffer): void {
    if (this.grpc) this.responseFrames.push(chunk);
  }

  /** Called by the HCM with the trailers relayed downstream (gRPC's status lives there). */
  onTrailers(t: Record<string, string>): void {
    this.responseTrailers = t;
  }

  /** Called by the HCM right before the response head goes out. */
  onResponseHeaders(h: HeaderMap): void {
    this.responseHeaders = h;
    const mx = this.owner.mx;
    if (!mx) return;
    if (mx.config.side === "client") {
      const v = h[PEER_METADATA_HEADER];
      if (v !== undefined) {
        if (mx.config.discover && typeof v === "string") this.peer = this.owner.env.peers.get(v, String(h[PEER_METADATA_ID_HEADER] ?? ""));
        // The app behind us must not see mesh-internal headers.
        delete h[PEER_METADATA_HEADER];
        delete h[PEER_METADATA_ID_HEADER];
      }
    } else if (mx.config.propagate) {
      h[PEER_METADATA_ID_HEADER] = this.owner.env.nodeId;
      h[PEER_METADATA_HEADER] = this.owner.env.ownHeader;
    }
  }

  reset(): void {
    resetAccessLogRecord(this.record);
    this.peer = undefined;
    this.span = undefined;
    this.sampled = false;
    this.startMs = 0;
    this.responseHeaders = undefined;
    this.responseTrailers = undefined;
    this.grpc = false;
    this.generation++;
    this.requestFrames.reset();
    this.responseFrames.reset();
  }
}

const flagText = new Map<number, string>();
function flagsText(bits: number): string {
  let t = flagText.get(bits);
  if (t === undefined) {
    t = bits === 0 ? "" : formatResponseFlags(bits);
    flagText.set(bits, t);
  }
  return t;
}

/** Envoy's %RESPONSE_CODE_DETAILS% for the local replies the proxy makes, by the flag that caused them. */
const DETAILS_BY_FLAG: readonly (readonly [number, string])[] = [
  [ResponseFlag.NR, "route_not_found"],
  [ResponseFlag.NC, "cluster_not_found"],
  [ResponseFlag.UH, "no_healthy_upstream"],
  [ResponseFlag.UO, "upstream_reset_before_response_started{overflow}"],
  [ResponseFlag.UT, "upstream_response_timeout"],
  [ResponseFlag.UF, "upstream_reset_before_response_started{remote_connection_failure}"],
  [ResponseFlag.FI, "fault_filter_abort"],
  [ResponseFlag.UC, "upstream_reset_before_response_started{connection_termination}"],
  [ResponseFlag.UR, "upstream_reset_after_response_started{remote_reset}"],
  [ResponseFlag.DC, "downstream_remote_disconnect"],
];

function codeDetails(ctx: RequestContext): string {
  for (const [flag, text] of DETAILS_BY_FLAG) if (ctx.responseFlags & flag) return text;
  return ctx.upstreamStartNs !== 0n && ctx.responseCode > 0 ? "via_upstream" : "";
}

const codeText: string[] = [];
function codeString(code: number): string {
  return (codeText[code] ??= String(code));
}

function hostPort(address: string, port: number): string {
  if (!address) return "";
  return address.includes(":") && !address.startsWith("[") ? `[${address}]:${port}` : `${address}:${port}`;
}

export class HcmTelemetry {
  readonly mx: MetadataExchangeFilter | undefined;
  private readonly stats: IstioStatsFilter | undefined;
  private readonly accessLogs: AccessLogSink[];
  private readonly tracing: TracingConfig | undefined;
  readonly reporter: "source" | "destination";
  private readonly pool: RequestTelemetry[] = [];
  /** The four per-request labels, reused (series() copies what it keeps). */
  private readonly suffix = ["", "", "", ""];
  private readonly dropped: Set<string>;
  private readonly families: IstioFamilies;
  /** Per-request tag values by metric (Telemetry tagOverrides with CEL); undefined when there are none. */
  private readonly dynamic: Record<string, DynamicDimension[]> | undefined;

  private constructor(
    readonly env: ProxyTelemetry,
    json: Json,
    path: string,
    filters: readonly HttpFilter[],
    private readonly random: () => number,
  ) {
    this.mx = filters.find((f): f is MetadataExchangeFilter => f instanceof MetadataExchangeFilter);
    this.stats = filters.find((f): f is IstioStatsFilter => f instanceof IstioStatsFilter);
    this.accessLogs = compileAccessLogs(json.access_log, `${path}.access_log`, env.openWriter);
    this.tracing = obj(json.tracing) ? parseTracingConfig(obj(json.tracing)!, `${path}.tracing`) : undefined;
    if (this.tracing?.providerWarning) env.warnOnce(this.tracing.providerWarning);
    this.dropped = this.stats?.config.dropped ?? new Set();
    this.families = env.familiesFor(this.stats?.config.overrides ?? {});
    for (const d of this.stats?.config.ignoredDimensions ?? []) env.warnOnce(`istio.stats: ${d}; this dimension is ignored`);
    const dynamic = this.stats?.config.dynamic;
    this.dynamic = dynamic && Object.keys(dynamic).length > 0 ? dynamic : undefined;
    // Istio's AUTO reporter: the server side of the exchange (inbound) reports as destination;
    // clients and gateways (SERVER_GATEWAY) as source. Without an exchange filter the HCM's
    // stat_prefix tells inbound (Istio names inbound HCMs `inbound_...`).
    const statPrefix = String(json.stat_prefix ?? "");
    const server = this.stats?.config.reporter === "SERVER_GATEWAY" ? false : this.mx ? this.mx.config.side === "server" : statPrefix.startsWith("inbound");
    this.reporter = server ? "destination" : "source";
  }

  /** undefined when the HCM has nothing to do for telemetry (the request path then skips it entirely). */
  static create(env: ProxyTelemetry | undefined, json: Json, path: string, filters: readonly HttpFilter[], random: () => number): HcmTelemetry | undefined {
    const hasFilters = filters.some((f) => f instanceof IstioStatsFilter || f instanceof MetadataExchangeFilter);
    const hasLogs = Array.isArray(json.access_log) && json.access_log.length > 0;
    if (!hasFilters && !hasLogs && !obj(json.tracing)) return undefined;
    if (!env) {
      // Validation without a running proxy (e.g. RDS-only checks): parse to NACK bad config, do nothing.
      compileAccessLogs(json.access_log, `${path}.access_log`, () => ({ write() {}, close: async () => {} }) as never);
      if (obj(json.tracing)) parseTracingConfig(obj(json.tracing)!, `${path}.tracing`);
      return undefined;
    }
    return new HcmTelemetry(env, json, path, filters, random);
  }

  begin(s: TelemetryStream): RequestTelemetry {
    const st = this.pool.pop() ?? new RequestTelemetry(this);
    st.startMs = Date.now();
    const h = s.headers;
    const mx = this.mx;
    if (mx) {
      if (mx.config.side === "server") {
        const v = h[PEER_METADATA_HEADER];
        if (v !== undefined) {
          if (mx.config.discover && typeof v === "string") st.peer = this.env.peers.get(v, String(h[PEER_METADATA_ID_HEADER] ?? ""));
          delete h[PEER_METADATA_HEADER];
          delete h[PEER_METADATA_ID_HEADER];
        }
      } else if (mx.config.propagate) {
        h[PEER_METADATA_ID_HEADER] = this.env.nodeId;
        h[PEER_METADATA_HEADER] = this.env.ownHeader;
      }
    }
    if (this.stats && s.body) {
      if (isGrpcContent(h)) {
        st.grpc = true;
        // Count request messages as the body streams upstream. WHY pause() right after
        // adding the listener: the router pipes the body later; until then nothing may
        // flow (the same technique as BodyTee). The closure is per gRPC request because a
        // pooled state must not count a previous request's late data.
        const generation = st.generation;
        const body = s.body;
        body.on("data", (chunk: Buffer) => {
          if (st.generation === generation) st.requestFrames.push(chunk);
        });
        body.pause();
      }
    }
    const t = this.tracing;
    if (t) {
      const bag = h as HeaderBag;
      const parent = extractTraceContext(bag);
      let sampled = decideSampling({ headers: bag, parent }, { randomSamplingPercentage: t.randomSampling, random: this.random }).sampled;
      if (sampled && t.overallSampling < 100 && this.random() * 100 >= t.overallSampling) sampled = false;
      const started = startSpan({ kind: this.reporter === "destination" ? "SERVER" : "CLIENT", name: "", serviceName: this.env.serviceName, parent, sampled, startUs: st.startMs * 1000 });
      st.span = started.span;
      st.sampled = sampled;
      // This hop's span is the parent of whatever the upstream does; both W3C and B3 are
      // written so a stale header of the other format cannot mislead the next hop.
      Object.assign(h, injectTraceContext(started.context, ["w3c", "b3"]));
    }
    return st;
  }

  complete(s: TelemetryStream, st: RequestTelemetry): void {
    const r = st.record;
    this.fillRecord(s, st, r);
    if (this.accessLogs.length > 0) writeAccessLogs(this.accessLogs, r);
    if (this.stats) this.count(s, st, r);
    if (st.span) this.finishSpan(s, st, r);
    st.reset();
    if (this.pool.length < 1024) this.pool.push(st);
  }

  private fillRecord(s: TelemetryStream, st: RequestTelemetry, r: AccessLogRecord): void {
    const ctx = s.ctx;
    r.startTimeMs = st.startMs;
    r.method = s.method;
    r.path = s.path;
    r.authority = s.authority;
    r.scheme = s.scheme;
    r.requestHeaders = s.headers as HeaderBag;
    if (st.responseHeaders) r.responseHeaders = st.responseHeaders as HeaderBag;
    r.protocol = ctx.protocol;
    r.responseCode = ctx.responseCode;
    r.responseCodeDetails = ctx.responseCodeDetails || codeDetails(ctx);
    r.responseFlags = flagsText(ctx.responseFlags);
    const clen = s.headers["content-length"];
    r.bytesReceived = ctx.bytesReceived || (typeof clen === "string" ? Number(clen) || 0 : 0);
    r.bytesSent = ctx.bytesSent;
    if (r.bytesSent === 0 && st.responseHeaders) {
      const rl = st.responseHeaders["content-length"];
      if (typeof rl === "string") r.bytesSent = Number(rl) || 0;
    }
    r.durationMs = ctx.endNs > 0n ? Math.floor(ctx.durationMs()) : -1;
    if (ctx.upstreamStartNs !== 0n && st.responseHeaders) {
      const ust = st.responseHeaders["x-envoy-upstream-service-time"];
      if (typeof ust === "string") r.responseDurationMs = Math.floor(Number(ctx.upstreamStartNs - ctx.startNs) / 1e6) + (Number(ust) || 0);
    }
    r.upstreamHost = ctx.upstreamHost;
    r.upstreamCluster = ctx.clusterName;
    r.upstreamRequestAttemptCount = ctx.attempts;
    r.downstreamLocalAddress = hostPort(ctx.downstreamLocalAddress, ctx.downstreamLocalPort);
    const remote = ctx.downstreamRemoteAddress;
    // An address taken from x-forwarded-for has no port: Envoy prints it with port 0.
    r.downstreamRemoteAddress = remote === ctx.directRemoteAddress ? this.directRemote(s, remote) : isIP(remote) ? hostPort(remote, 0) : remote;
    r.downstreamDirectRemoteAddress = this.directRemote(s, ctx.directRemoteAddress);
    r.requestedServerName = ctx.requestedServerName;
    r.routeName = ctx.routeName;
    r.downstreamPeerUriSan = ctx.peerPrincipal;
    if (st.responseTrailers) r.responseTrailers = st.responseTrailers;
    const gs = st.responseTrailers?.["grpc-status"] ?? st.responseHeaders?.["grpc-status"];
    r.grpcStatus = typeof gs === "string" && gs !== "" ? Number(gs) : -1;
  }

  private directRemote(s: TelemetryStream, address: string): string {
    const port = (s as unknown as { req?: { socket?: { remotePort?: number } } }).req?.socket?.remotePort ?? 0;
    return hostPort(address, port);
  }

  private handles(peer: PeerInfo, dest: DestinationService, grpc: boolean, s: TelemetryStream): PeerHandles {
    // Keyed by the (stable, cached) destination object; gRPC and HTTP differ in request_protocol.
    const byFamilies = peer.handles as Map<unknown, Map<DestinationService, PeerHandles[]>>;
    let byDest = byFamilies.get(this.families);
    if (!byDest) {
      byDest = new Map();
      byFamilies.set(this.families, byDest);
    }
    let pair = byDest.get(dest);
    if (!pair) {
      pair = [];
      byDest.set(dest, pair);
    }
    const idx = (this.reporter === "destination" ? 2 : 0) + (grpc ? 1 : 0);
    let h = pair[idx];
    if (!h) {
      const values = istioLabelValues({
        reporter: this.reporter,
        local: this.env.own,
        peer: peer === this.env.unknownPeer ? undefined : peer.workload,
        localPrincipal: this.env.ownPrincipal,
        // Server side: only a verified client certificate names the peer (that is what makes
        // connection_security_policy mutual_tls). Client side: the exchanged service account.
        peerPrincipal: this.reporter === "destination" ? s.ctx.peerPrincipal || undefined : peer.principal,
        destinationServiceHost: dest.host,
        destinationServiceName: dest.name,
        protocol: grpc ? "grpc" : "http",
      }).slice(0, ISTIO_PEER_LABEL_COUNT);
      const f = this.families;
      h = {
        requestMessages: f.istio_request_messages_total.prefix(values),
        responseMessages: f.istio_response_messages_total.prefix(values),
        requests: f.istio_requests_total.prefix(values),
        duration: f.istio_request_duration_milliseconds.prefix(values),
        requestBytes: f.istio_request_bytes.prefix(values),
        responseBytes: f.istio_response_bytes.prefix(values),
      };
      pair[idx] = h;
    }
    return h;
  }

  private count(s: TelemetryStream, st: RequestTelemetry, r: AccessLogRecord): void {
    const ctx = s.ctx;
    const grpc = isGrpcContent(s.headers);
    const dest = this.env.destination(ctx.clusterName, s.authority, !(this.stats?.config.disableHostHeaderFallback ?? false) || this.reporter === "destination");
    const h = this.handles(st.peer ?? this.env.unknownPeer, dest, grpc, s);
    const sfx = this.suffix;
    sfx[0] = codeString(r.responseCode);
    sfx[1] = grpc && r.grpcStatus >= 0 ? codeString(r.grpcStatus) : "";
    sfx[2] = r.responseFlags === "" ? "-" : r.responseFlags;
    sfx[3] = this.reporter === "destination" ? (s.ctx.peerPrincipal && this.env.ownPrincipal ? "mutual_tls" : "none") : "unknown";
    const d = this.dropped;
    if (this.dynamic) {
      this.countDynamic(h, st, r, sfx, this.dynamic);
      return;
    }
    if (!d.has("requests_total")) h.requests.series(sfx).inc();
    if (!d.has("request_duration_milliseconds")) h.duration.series(sfx).observe(r.durationMs < 0 ? 0 : r.durationMs);
    if (!d.has("request_bytes")) h.requestBytes.series(sfx).observe(r.bytesReceived);
    if (!d.has("response_bytes")) h.responseBytes.series(sfx).observe(r.bytesSent);
    if (st.grpc) {
      if (!d.has("request_messages_total")) h.requestMessages.series(sfx).inc(st.requestFrames.messages);
      if (!d.has("response_messages_total")) h.responseMessages.series(sfx).inc(st.responseFrames.messages);
    }
  }

  /**
   * The same counting when a Telemetry override gives some tag a per-request CEL value:
   * those families take the evaluated values after the response labels. Kept apart so
   * the common path (no such override) evaluates nothing and allocates nothing.
   */
  private countDynamic(h: PeerHandles, st: RequestTelemetry, r: AccessLogRecord, sfx: readonly string[], dynamic: Record<string, DynamicDimension[]>): void {
    let activation: Record<string, unknown> | undefined;
    const tuple = (metric: string): readonly string[] => {
      const dims = dynamic[metric];
      if (!dims) return sfx;
      activation ??= celActivation(r);
      const out = sfx.slice();
      for (const dim of dims) out.push(dimensionValue(dim, activation));
      return out;
    };
    const d = this.dropped;
    if (!d.has("requests_total")) h.requests.series(tuple("istio_requests_total")).inc();
    if (!d.has("request_duration_milliseconds")) h.duration.series(tuple("istio_request_duration_milliseconds")).observe(r.durationMs < 0 ? 0 : r.durationMs);
    if (!d.has("request_bytes")) h.requestBytes.series(tuple("istio_request_bytes")).observe(r.bytesReceived);
    if (!d.has("response_bytes")) h.responseBytes.series(tuple("istio_response_bytes")).observe(r.bytesSent);
    if (st.grpc) {
      if (!d.has("request_messages_total")) h.requestMessages.series(tuple("istio_request_messages_total")).inc(st.requestFrames.messages);
      if (!d.has("response_messages_total")) h.responseMessages.series(tuple("istio_response_messages_total")).inc(st.responseFrames.messages);
    }
  }

  private finishSpan(s: TelemetryStream, st: RequestTelemetry, r: AccessLogRecord): void {
    const span = st.span!;
    const t = this.tracing!;
    if (!st.sampled) return;
    const exporter = t.provider ? this.env.exporter(t.provider) : undefined;
    if (!exporter) return;
    // Istio's operation name: `<destination host>:<port>/*` for outbound clusters, else the authority.
    const c = s.ctx.clusterName;
    let name: string;
    if (c.startsWith("outbound|")) {
      const parts = c.split("|");
      name = `${parts[3]}:${parts[1]}/*`;
    } else name = `${s.authority}/*`;
    span.name = name.toLowerCase();
    const tags = httpSpanTags(r, { "istio.namespace": this.env.own.namespace ?? "", node_id: this.env.nodeId });
    if (r.path.length > t.maxPathTagLength) tags["http.url"] = tags["http.url"].slice(0, t.maxPathTagLength);
    for (const ct of t.customTags) {
      if (ct.kind === "header") {
        const v = s.headers[ct.name];
        const text = Array.isArray(v) ? v.join(",") : v === undefined ? undefined : String(v);
        if (text !== undefined) tags[ct.tag] = text;
        else if (ct.defaultValue !== undefined) tags[ct.tag] = ct.defaultValue;
      } else tags[ct.tag] = ct.value;
    }
    span.tags = tags;
    if (t.provider?.kind === "otlp" && t.provider.serviceName) span.localEndpoint = { serviceName: t.provider.serviceName.toLowerCase() };
    finishSpan(span, st.startMs * 1000 + (s.ctx.endNs > 0n ? Math.round(s.ctx.durationMs() * 1000) : 0));
    exporter.export(span);
  }
}

/** A per-request tag's value: the CEL result as text; "unknown" when it fails (a missing header), as Istio. */
function dimensionValue(dim: DynamicDimension, activation: Record<string, unknown>): string {
  try {
    const v = dim.program(activation);
    return v === undefined || v === null ? "unknown" : String(v);
  } catch {
    return "unknown";
  }
}
