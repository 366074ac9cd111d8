// What a proxy's tracing filter does per request, as functions: start a span as the
// child of the incoming context (or as a new trace's root), hand the context to
// propagate upstream, and tag the finished span the way Envoy tags HTTP spans,
// from the same AccessLogRecord the access log is formatted from.

import type { AccessLogRecord } from "../accesslog/record.ts";
import { newSpanId, newTraceId, nowMicros, type Span, type SpanKind } from "./span.ts";
import type { TraceContext } from "./headers.ts";

export interface StartSpanOptions {
  kind: SpanKind;
  /** Envoy uses the route's decorator, Istio `<host>:<port>/*`, e.g. `sa-logic.default.svc.cluster.local:80/*`. */
  name: string;
  /** Istio's tracing service name: `<canonical service>.<namespace>`. */
  serviceName: string;
  /** Incoming context; ids may be empty when it carried only a sampling decision. */
  parent?: TraceContext;
  sampled: boolean;
  /** Start time, µs since the epoch; default now. */
  startUs?: number;
}

export interface StartedSpan {
  span: Span;
  /** The context to inject into the upstream request: this span is the parent there. */
  context: TraceContext;
}

export function startSpan(o: StartSpanOptions): StartedSpan {
  const hasParent = !!o.parent && o.parent.traceId !== "" && o.parent.spanId !== "";
  const traceId = hasParent ? o.parent!.traceId : newTraceId();
  const span: Span = {
    traceId,
    id: newSpanId(),
    name: o.name.toLowerCase(),
    kind: o.kind,
    timestamp: o.startUs ?? nowMicros(),
    duration: 0,
    localEndpoint: { serviceName: o.serviceName.toLowerCase() },
    tags: {},
  };
  if (hasParent) span.parentId = o.parent!.spanId;
  const context: TraceContext = { traceId, spanId: span.id, sampled: o.sampled };
  if (hasParent) context.parentSpanId = o.parent!.spanId;
  if (o.parent?.tracestate) context.tracestate = o.parent.tracestate;
  if (o.parent?.debug) context.debug = true;
  return { span, context };
}

/** Sets the duration (at least 1 µs, as Zipkin rejects 0 for finished spans). */
export function finishSpan(span: Span, endUs = nowMicros()): Span {
  span.duration = Math.max(1, Math.round(endUs - span.timestamp));
  return span;
}

/**
 * Envoy's HTTP span tags from the request's record, plus Istio's own (pass them in
 * `extra`: istio.canonical_service, istio.canonical_revision, istio.mesh_id,
 * istio.namespace, node_id). `error=true` for 5xx and for no response at all.
 */
export function httpSpanTags(r: AccessLogRecord, extra: Readonly<Record<string, string>> = {}): Record<string, string> {
  const header = (name: string): string | undefined => {
    const v = r.requestHeaders[name];
    return Array.isArray(v) ? v.join(",") : v;
  };
  const tags: Record<string, string> = {
    component: "proxy",
    "http.method": r.method,
    "http.url": `${r.scheme || "http"}://${r.authority}${r.path}`,
    "http.protocol": r.protocol || "-",
    "http.status_code": String(r.responseCode),
    "response_flags": r.responseFlags === "" ? "-" : r.responseFlags,
    "request_size": String(r.bytesReceived),
    "response_size": String(r.bytesSent),
    "upstream_cluster": r.upstreamCluster || "-",
    "upstream_cluster.name": r.upstreamCluster || "-",
    "downstream_cluster": header("x-envoy-downstream-service-cluster") ?? "-",
    "user_agent": header("user-agent") ?? "-",
    "peer.address": r.downstreamRemoteAddress.replace(/:\d+$/, "") || "-",
  };
  const rid = header("x-request-id");
  if (rid) tags["guid:x-request-id"] = rid;
  if (r.responseCode === 0 || r.responseCode >= 500) tags.error = "true";
  return Object.assign(tags, extra);
}
