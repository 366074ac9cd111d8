// The telemetry room's public face: metrics registry and exposition, access-log
// formatting and writers, spans, trace header codecs, exporters, and the
// embedded trace store. Other rooms import only from here.
export * from "./metrics/index.ts";
export * from "./accesslog/index.ts";
export * from "./tracing/index.ts";
export * from "./trace-store/index.ts";
