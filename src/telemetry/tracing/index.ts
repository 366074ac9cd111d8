export {
  newTraceId,
  newSpanId,
  newRequestId,
  nowMicros,
  type Span,
  type SpanKind,
  type Endpoint,
  type Annotation,
} from "./span.ts";
export {
  parseTraceparent,
  formatTraceparent,
  parseTracestate,
  parseB3Multi,
  formatB3Multi,
  parseB3Single,
  formatB3Single,
  extractTraceContext,
  injectTraceContext,
  ensureRequestId,
  type TraceContext,
  type PropagationFormat,
} from "./headers.ts";
export { decideSampling, type SamplingDecision, type SamplingInput, type SamplingOptions, type SamplingReason } from "./sampling.ts";
export { toZipkinJson, fromZipkinJson, toOtlpJson, fromOtlpJson, normalizeTraceId, SpanDecodeError } from "./wire.ts";
export { SpanExporter, zipkinExporter, otlpExporter, type ExporterOptions, type ExporterStats } from "./exporter.ts";
export { startSpan, finishSpan, httpSpanTags, type StartSpanOptions, type StartedSpan } from "./http-span.ts";
