// Spans on the wire: Zipkin v2 JSON and OTLP/HTTP JSON (the protobuf JSON mapping
// of ExportTraceServiceRequest). Encoding is used by the exporters, decoding by the
// trace store; both go through the one Span model so a span exported either way
// reads back the same. Decoding validates and names the offending field.

import { HEX16, HEX32, type Annotation, type Endpoint, type Span, type SpanKind } from "./span.ts";

export class SpanDecodeError extends Error {}

// ---- Zipkin v2

export function toZipkinJson(spans: readonly Span[]): string {
  return JSON.stringify(
    spans.map((s) => {
      const out: Record<string, unknown> = { traceId: s.traceId, id: s.id };
      if (s.parentId) out.parentId = s.parentId;
      out.name = s.name;
      if (s.kind) out.kind = s.kind;
      out.timestamp = s.timestamp;
      out.duration = s.duration;
      if (s.localEndpoint) out.localEndpoint = s.localEndpoint;
      if (s.remoteEndpoint) out.remoteEndpoint = s.remoteEndpoint;
      if (s.annotations?.length) out.annotations = s.annotations;
      if (Object.keys(s.tags).length) out.tags = s.tags;
      if (s.shared) out.shared = true;
      return out;
    }),
  );
}

/** Zipkin ids are case-insensitive and trace ids may be 64-bit; stored as 128-bit lower case. */
export function normalizeTraceId(id: string): string | undefined {
  const l = id.toLowerCase();
  if (HEX32.test(l)) return l;
  if (HEX16.test(l)) return "0".repeat(16) + l;
  return undefined;
}

function endpoint(v: unknown, where: string): Endpoint | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "object") throw new SpanDecodeError(`${where}: must be an object`);
  const e = v as Record<string, unknown>;
  const out: Endpoint = {};
  // Zipkin stores service names lower-cased; queries match on that.
  if (typeof e.serviceName === "string" && e.serviceName !== "") out.serviceName = e.serviceName.toLowerCase();
  if (typeof e.ipv4 === "string") out.ipv4 = e.ipv4;
  if (typeof e.ipv6 === "string") out.ipv6 = e.ipv6;
  if (typeof e.port === "number") out.port = e.port;
  return out;
}

const KINDS = new Set(["CLIENT", "SERVER", "PRODUCER", "CONSUMER"]);

export function fromZipkinJson(body: unknown): Span[] {
  if (!Array.isArray(body)) throw new SpanDecodeError("body: Zipkin v2 expects a JSON array of spans");
  return body.map((raw, i) => {
    const where = `span[${i}]`;
    if (raw === null || typeof raw !== "object") throw new SpanDecodeError(`${where}: must be an object`);
    const s = raw as Record<string, unknown>;
    const traceId = typeof s.traceId === "string" ? normalizeTraceId(s.traceId) : undefined;
    if (!traceId) throw new SpanDecodeError(`${where}.traceId: must be 16 or 32 hex digits`);
    const id = typeof s.id === "string" ? s.id.toLowerCase() : "";
    if (!HEX16.test(id)) throw new SpanDecodeError(`${where}.id: must be 16 hex digits`);
    let parentId: string | undefined;
    if (s.parentId !== undefined && s.parentId !== null) {
      parentId = typeof s.parentId === "string" ? s.parentId.toLowerCase() : "";
      if (!HEX16.test(parentId)) throw new SpanDecodeError(`${where}.parentId: must be 16 hex digits`);
    }
    if (s.kind !== undefined && !KINDS.has(String(s.kind))) throw new SpanDecodeError(`${where}.kind: must be one of CLIENT, SERVER, PRODUCER, CONSUMER`);
    const tags: Record<string, string> = {};
    if (s.tags !== undefined) {
      if (s.tags === null || typeof s.tags !== "object") throw new SpanDecodeError(`${where}.tags: must be an object of strings`);
      for (const [k, v] of Object.entries(s.tags as Record<string, unknown>)) tags[k] = String(v);
    }
    const annotations: Annotation[] = Array.isArray(s.annotations)
      ? (s.annotations as Record<string, unknown>[]).map((a) => ({ timestamp: Number(a.timestamp), value: String(a.value) }))
      : [];
    const span: Span = {
      traceId,
      id,
      parentId,
      name: typeof s.name === "string" ? s.name.toLowerCase() : "",
      kind: s.kind as SpanKind | undefined,
      timestamp: typeof s.timestamp === "number" ? s.timestamp : 0,
      duration: typeof s.duration === "number" ? s.duration : 0,
      localEndpoint: endpoint(s.localEndpoint, `${where}.localEndpoint`),
      remoteEndpoint: endpoint(s.remoteEndpoint, `${where}.remoteEndpoint`),
      tags,
    };
    if (annotations.length) span.annotations = annotations;
    if (s.shared === true) span.shared = true;
    return span;
  });
}

// ---- OTLP/HTTP JSON

const OTLP_KIND: Record<SpanKind, number> = { SERVER: 2, CLIENT: 3, PRODUCER: 4, CONSUMER: 5 };
const KIND_FROM_OTLP: Record<number, SpanKind | undefined> = { 2: "SERVER", 3: "CLIENT", 4: "PRODUCER", 5: "CONSUMER" };
const KIND_NAMES: Record<string, number> = {
  SPAN_KIND_INTERNAL: 1, SPAN_KIND_SERVER: 2, SPAN_KIND_CLIENT: 3, SPAN_KIND_PRODUCER: 4, SPAN_KIND_CONSUMER: 5,
};

const micros2nanos = (us: number): string => (BigInt(Math.round(us)) * 1000n).toString();

export function toOtlpJson(spans: readonly Span[], scopeName = "skiff"): string {
  // OTLP groups spans by resource; each service is one resource.
  const byService = new Map<string, Span[]>();
  for (const s of spans) {
    const svc = s.localEndpoint?.serviceName ?? "unknown_service";
    let list = byService.get(svc);
    if (!list) byService.set(svc, (list = []));
    list.push(s);
  }
  const resourceSpans = [...byService].map(([service, list]) => ({
    resource: { attributes: [{ key: "service.name", value: { stringValue: service } }] },
    scopeSpans: [
      {
        scope: { name: scopeName },
        spans: list.map((s) => {
          const attributes = Object.entries(s.tags).map(([key, v]) => ({ key, value: { stringValue: v } }));
          const out: Record<string, unknown> = {
            traceId: s.traceId,
            spanId: s.id,
            name: s.name,
            kind: s.kind ? OTLP_KIND[s.kind] : 1,
            startTimeUnixNano: micros2nanos(s.timestamp),
            endTimeUnixNano: micros2nanos(s.timestamp + s.duration),
            attributes,
          };
          if (s.parentId) out.parentSpanId = s.parentId;
          if (s.tags.error !== undefined) out.status = { code: 2, message: s.tags.error };
          return out;
        }),
      },
    ],
  }));
  return JSON.stringify({ resourceSpans });
}

function anyValueToString(v: unknown): string {
  if (v === null || typeof v !== "object") return String(v);
  const o = v as Record<string, unknown>;
  if ("stringValue" in o) return String(o.stringValue);
  if ("intValue" in o) return String(o.intValue);
  if ("doubleValue" in o) return String(o.doubleValue);
  if ("boolValue" in o) return String(o.boolValue);
  if ("arrayValue" in o) {
    const values = ((o.arrayValue as { values?: unknown[] })?.values ?? []).map(anyValueToString);
    return JSON.stringify(values);
  }
  return JSON.stringify(o);
}

function attributes(list: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (!Array.isArray(list)) return out;
  for (const a of list as { key?: unknown; value?: unknown }[]) {
    if (typeof a?.key === "string") out[a.key] = anyValueToString(a.value);
  }
  return out;
}

/** OTLP ids in JSON are hex (the OTLP/JSON rule, unlike proto3's base64 default). */
function otlpId(v: unknown, len: 16 | 32): string | undefined {
  if (typeof v !== "string" || v === "") return undefined;
  const l = v.toLowerCase();
  return (len === 32 ? HEX32 : HEX16).test(l) ? l : undefined;
}

function nanosToMicros(v: unknown): number {
  if (typeof v === "number") return Math.floor(v / 1000);
  if (typeof v === "string" && /^\d+$/.test(v)) return Number(BigInt(v) / 1000n);
  return 0;
}

export function fromOtlpJson(body: unknown): Span[] {
  if (body === null || typeof body !== "object") throw new SpanDecodeError("body: OTLP expects an ExportTraceServiceRequest JSON object");
  const rs = (body as { resourceSpans?: unknown }).resourceSpans;
  if (rs === undefined) return [];
  if (!Array.isArray(rs)) throw new SpanDecodeError("resourceSpans: must be an array");
  const out: Span[] = [];
  rs.forEach((r: Record<string, unknown>, ri) => {
    const resAttrs = attributes((r?.resource as { attributes?: unknown })?.attributes);
    const service = (resAttrs["service.name"] ?? "unknown_service").toLowerCase();
    const scopes = (r?.scopeSpans ?? r?.instrumentationLibrarySpans ?? []) as Record<string, unknown>[];
    if (!Array.isArray(scopes)) throw new SpanDecodeError(`resourceSpans[${ri}].scopeSpans: must be an array`);
    scopes.forEach((sc, si) => {
      const spans = (sc?.spans ?? []) as Record<string, unknown>[];
      if (!Array.isArray(spans)) throw new SpanDecodeError(`resourceSpans[${ri}].scopeSpans[${si}].spans: must be an array`);
      spans.forEach((s, i) => {
        const where = `resourceSpans[${ri}].scopeSpans[${si}].spans[${i}]`;
        const traceId = otlpId(s.traceId, 32);
        if (!traceId) throw new SpanDecodeError(`${where}.traceId: must be 32 hex digits`);
        const id = otlpId(s.spanId, 16);
        if (!id) throw new SpanDecodeError(`${where}.spanId: must be 16 hex digits`);
        const parentId = otlpId(s.parentSpanId, 16);
        const kindNum = typeof s.kind === "number" ? s.kind : KIND_NAMES[String(s.kind)] ?? 0;
        const start = nanosToMicros(s.startTimeUnixNano);
        const end = nanosToMicros(s.endTimeUnixNano);
        const tags = attributes(s.attributes);
        const status = s.status as { code?: unknown; message?: unknown } | undefined;
        if (status && (status.code === 2 || status.code === "STATUS_CODE_ERROR")) tags.error = typeof status.message === "string" && status.message ? status.message : "true";
        out.push({
          traceId,
          id,
          parentId,
          name: typeof s.name === "string" ? s.name.toLowerCase() : "",
          kind: KIND_FROM_OTLP[kindNum],
          timestamp: start,
          duration: Math.max(0, end - start),
          localEndpoint: { serviceName: service },
          tags,
        });
      });
    });
  });
  return out;
}
