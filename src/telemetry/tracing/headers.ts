// Trace context propagation: W3C Trace Context (traceparent / tracestate), Zipkin's
// B3 in both spellings (x-b3-* headers and the single `b3` header), and Envoy's
// x-request-id. Parsing is strict where the specs are (bad input means "no
// context", never an exception) and formatting always writes canonical forms.

import { HEX16, HEX32, newRequestId } from "./span.ts";

/** What propagates between hops. `sampled` is undefined when the caller deferred the decision. */
export interface TraceContext {
  traceId: string;
  /** The sender's span: the parent of the span the receiver creates. */
  spanId: string;
  /** B3 only: the sender's own parent. */
  parentSpanId?: string;
  sampled?: boolean;
  /** B3 debug flag: forces sampling downstream. */
  debug?: boolean;
  /** W3C tracestate, passed through as received (already validated). */
  tracestate?: string;
}

type Headers = Readonly<Record<string, string | string[] | undefined>>;

function first(h: Headers, name: string): string | undefined {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v;
}

const ZERO32 = "0".repeat(32);
const ZERO16 = "0".repeat(16);

// ---- W3C traceparent: version-traceid-parentid-flags

/** Parses `traceparent`; undefined when absent or invalid (the spec says: start a new trace). */
export function parseTraceparent(value: string | undefined): TraceContext | undefined {
  if (!value) return undefined;
  const v = value.trim();
  const parts = v.split("-");
  if (parts.length < 4) return undefined;
  const [version, traceId, spanId, flags] = parts;
  if (!/^[0-9a-f]{2}$/.test(version) || version === "ff") return undefined;
  // Version 00 has exactly four fields; later versions may append more.
  if (version === "00" && parts.length !== 4) return undefined;
  if (!HEX32.test(traceId) || traceId === ZERO32) return undefined;
  if (!HEX16.test(spanId) || spanId === ZERO16) return undefined;
  if (!/^[0-9a-f]{2}$/.test(flags)) return undefined;
  return { traceId, spanId, sampled: (parseInt(flags, 16) & 1) === 1 };
}

export function formatTraceparent(ctx: TraceContext): string {
  return `00-${ctx.traceId}-${ctx.spanId}-${ctx.sampled ? "01" : "00"}`;
}

/** Validates tracestate (list-members `key=value`, at most 32); undefined if invalid. */
export function parseTracestate(value: string | string[] | undefined): string | undefined {
  if (value === undefined) return undefined;
  const joined = Array.isArray(value) ? value.join(",") : value;
  const members = joined.split(",").map((m) => m.trim()).filter((m) => m !== "");
  if (members.length === 0 || members.length > 32) return undefined;
  const seen = new Set<string>();
  for (const m of members) {
    const eq = m.indexOf("=");
    if (eq <= 0) return undefined;
    const key = m.slice(0, eq);
    const val = m.slice(eq + 1);
    if (!/^[a-z0-9][_0-9a-z\-*/]{0,255}$|^[a-z0-9][_0-9a-z\-*/]{0,240}@[a-z][_0-9a-z\-*/]{0,13}$/.test(key)) return undefined;
    if (!/^[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]$/.test(val)) return undefined;
    if (seen.has(key)) return undefined;
    seen.add(key);
  }
  return members.join(",");
}

// ---- B3

function b3Sampled(v: string | undefined): { sampled?: boolean; debug?: boolean } {
  if (v === undefined) return {};
  switch (v.toLowerCase()) {
    case "1": case "true": return { sampled: true };
    case "0": case "false": return { sampled: false };
    case "d": return { sampled: true, debug: true };
    default: return {};
  }
}

/** B3 trace ids may be 64-bit; they are left-padded to 128 bits as Zipkin does. */
function b3TraceId(v: string | undefined): string | undefined {
  if (!v) return undefined;
  const id = v.toLowerCase();
  if (HEX32.test(id)) return id === ZERO32 ? undefined : id;
  if (HEX16.test(id)) return id === ZERO16 ? undefined : ZERO16 + id;
  return undefined;
}

function b3SpanId(v: string | undefined): string | undefined {
  if (!v) return undefined;
  const id = v.toLowerCase();
  return HEX16.test(id) && id !== ZERO16 ? id : undefined;
}

/** The x-b3-* headers. A sampling decision alone (no ids) is returned with empty ids. */
export function parseB3Multi(h: Headers): TraceContext | undefined {
  const flags = first(h, "x-b3-flags");
  const s = b3Sampled(first(h, "x-b3-sampled"));
  const debug = flags === "1";
  const traceId = b3TraceId(first(h, "x-b3-traceid"));
  const spanId = b3SpanId(first(h, "x-b3-spanid"));
  const decision = debug ? { sampled: true, debug: true } : s;
  if (!traceId || !spanId) {
    return decision.sampled !== undefined ? { traceId: "", spanId: "", ...decision } : undefined;
  }
  const parentSpanId = b3SpanId(first(h, "x-b3-parentspanid"));
  return { traceId, spanId, ...(parentSpanId ? { parentSpanId } : {}), ...decision };
}

export function formatB3Multi(ctx: TraceContext): Record<string, string> {
  const out: Record<string, string> = { "x-b3-traceid": ctx.traceId, "x-b3-spanid": ctx.spanId };
  if (ctx.parentSpanId) out["x-b3-parentspanid"] = ctx.parentSpanId;
  if (ctx.debug) out["x-b3-flags"] = "1";
  else if (ctx.sampled !== undefined) out["x-b3-sampled"] = ctx.sampled ? "1" : "0";
  return out;
}

/** The single `b3` header: `{traceId}-{spanId}[-{sampling}[-{parentSpanId}]]`, or just `0`/`1`/`d`. */
export function parseB3Single(value: string | undefined): TraceContext | undefined {
  if (!value) return undefined;
  const parts = value.trim().split("-");
  if (parts.length === 1) {
    const s = b3Sampled(parts[0]);
    return s.sampled === undefined ? undefined : { traceId: "", spanId: "", ...s };
  }
  if (parts.length > 4) return undefined;
  const traceId = b3TraceId(parts[0]);
  const spanId = b3SpanId(parts[1]);
  if (!traceId || !spanId) return undefined;
  const s = parts.length >= 3 ? b3Sampled(parts[2]) : {};
  if (parts.length >= 3 && s.sampled === undefined) return undefined;
  let parentSpanId: string | undefined;
  if (parts.length === 4) {
    parentSpanId = b3SpanId(parts[3]);
    if (!parentSpanId) return undefined;
  }
  return { traceId, spanId, ...(parentSpanId ? { parentSpanId } : {}), ...s };
}

export function formatB3Single(ctx: TraceContext): string {
  let out = `${ctx.traceId}-${ctx.spanId}`;
  if (ctx.debug) out += "-d";
  else if (ctx.sampled !== undefined) out += ctx.sampled ? "-1" : "-0";
  else return out;
  if (ctx.parentSpanId) out += `-${ctx.parentSpanId}`;
  return out;
}

// ---- all formats together

/**
 * The incoming context: W3C traceparent first (with its tracestate), then the
 * single b3 header, then x-b3-*. A context carrying only a sampling decision has
 * empty ids: the receiver starts a new trace but honours the decision.
 */
export function extractTraceContext(h: Headers): TraceContext | undefined {
  const w3c = parseTraceparent(first(h, "traceparent"));
  if (w3c) {
    const ts = parseTracestate(h["tracestate"]);
    return ts ? { ...w3c, tracestate: ts } : w3c;
  }
  return parseB3Single(first(h, "b3")) ?? parseB3Multi(h);
}

export type PropagationFormat = "w3c" | "b3" | "b3-single";

/** Headers to send upstream for a context (the sender's span id in spanId). */
export function injectTraceContext(ctx: TraceContext, formats: readonly PropagationFormat[] = ["w3c", "b3"]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of formats) {
    if (f === "w3c") {
      out.traceparent = formatTraceparent(ctx);
      if (ctx.tracestate) out.tracestate = ctx.tracestate;
    } else if (f === "b3") Object.assign(out, formatB3Multi(ctx));
    else out.b3 = formatB3Single(ctx);
  }
  return out;
}

/** The request's x-request-id, generated (UUID v4) when absent or empty, as Envoy does. */
export function ensureRequestId(h: Headers): { id: string; generated: boolean } {
  const v = first(h, "x-request-id");
  if (v !== undefined && v.trim() !== "") return { id: v, generated: false };
  return { id: newRequestId(), generated: true };
}
