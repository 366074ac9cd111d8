// HCM `tracing`: sampling percentages, custom tags and the tracer provider (Zipkin v2
// JSON or OpenTelemetry OTLP/HTTP JSON), parsed once per listener update. The per-request
// part (context extraction, sampling, spans, propagation) is in telemetry-hcm.ts.
import { ConfigError, arr, num, obj, onlyFields, str, type Json } from "../json.ts";

export const zipkinConfigType = "type.googleapis.com/envoy.config.trace.v3.ZipkinConfig";
export const otelConfigType = "type.googleapis.com/envoy.config.trace.v3.OpenTelemetryConfig";

export type CustomTag =
  | { tag: string; kind: "literal"; value: string }
  | { tag: string; kind: "environment"; value: string }
  | { tag: string; kind: "header"; name: string; defaultValue: string | undefined };

export interface TracingProviderConfig {
  kind: "zipkin" | "otlp";
  /** The cluster whose first host is the collector. */
  cluster: string;
  /** URL path on the collector (/api/v2/spans, /v1/traces). */
  path: string;
  /** Host header for the collector. */
  hostname: string | undefined;
  /** OTLP's service_name; Zipkin uses the proxy's own `<canonical service>.<namespace>`. */
  serviceName: string | undefined;
}

export interface TracingConfig {
  /** 0..100 (%). */
  randomSampling: number;
  /** 0..100: how often a client-forced trace (x-client-trace-id) is honoured. */
  clientSampling: number;
  /** 0..100: the cap on everything. */
  overallSampling: number;
  customTags: CustomTag[];
  maxPathTagLength: number;
  /** undefined: decide, propagate and tag, but export nothing (Istio's disableSpanReporting). */
  provider: TracingProviderConfig | undefined;
  /** Why the provider is missing although one was configured (logged once). */
  providerWarning: string | undefined;
}

function percent(v: unknown, path: string, dflt: number): number {
  const o = obj(v);
  if (!o) return dflt;
  onlyFields(o, path, ["value"]);
  const n = num(o.value) ?? 0;
  if (n < 0 || n > 100) throw new ConfigError(`${path}.value`, `must be a percentage 0..100, got ${n}`);
  return n;
}

function parseCustomTag(t: Json, path: string): CustomTag {
  onlyFields(t, path, ["tag", "literal", "environment", "request_header"], ["metadata"]);
  const tag = str(t.tag);
  if (!tag) throw new ConfigError(`${path}.tag`, "is required");
  const lit = obj(t.literal);
  if (lit) return { tag, kind: "literal", value: str(lit.value) ?? "" };
  const env = obj(t.environment);
  // Environment tags are read once: a process's environment does not change.
  if (env) return { tag, kind: "environment", value: process.env[str(env.name) ?? ""] ?? str(env.default_value) ?? "" };
  const h = obj(t.request_header);
  if (h) return { tag, kind: "header", name: (str(h.name) ?? "").toLowerCase(), defaultValue: str(h.default_value) };
  throw new ConfigError(path, "a custom tag needs literal, environment or request_header (metadata tags are not implemented)");
}

function parseProvider(p: Json, path: string): { provider?: TracingProviderConfig; warning?: string } {
  onlyFields(p, path, ["name", "typed_config"]);
  const typed = obj(p.typed_config) ?? {};
  const { "@type": type, ...c } = typed;
  const tp = `${path}.typed_config`;
  if (type === zipkinConfigType) {
    onlyFields(c, tp, ["collector_cluster", "collector_endpoint", "collector_endpoint_version", "collector_hostname"], ["trace_id_128bit", "shared_span_context", "split_spans_for_request"]);
    const version = str(c.collector_endpoint_version) ?? "HTTP_JSON";
    if (version !== "HTTP_JSON") throw new ConfigError(`${tp}.collector_endpoint_version`, `${version} is not implemented; use HTTP_JSON (Zipkin v2 JSON)`);
    const cluster = str(c.collector_cluster);
    if (!cluster) throw new ConfigError(`${tp}.collector_cluster`, "is required");
    return { provider: { kind: "zipkin", cluster, path: str(c.collector_endpoint) ?? "/api/v2/spans", hostname: str(c.collector_hostname), serviceName: undefined } };
  }
  if (type === otelConfigType) {
    onlyFields(c, tp, ["service_name", "http_service", "grpc_service"], ["resource_detectors", "sampler"]);
    const http = obj(c.http_service);
    if (!http) return { warning: `${tp}: OTLP over gRPC is not implemented; spans are not exported (use the OpenTelemetry provider's http: setting)` };
    onlyFields(http, `${tp}.http_service`, ["http_uri"], ["request_headers_to_add"]);
    const uri = obj(http.http_uri) ?? {};
    onlyFields(uri, `${tp}.http_service.http_uri`, ["uri", "cluster", "timeout"]);
    const cluster = str(uri.cluster);
    if (!cluster) throw new ConfigError(`${tp}.http_service.http_uri.cluster`, "is required");
    let urlPath = "/v1/traces";
    let hostname: string | undefined;
    const raw = str(uri.uri);
    if (raw) {
      try {
        const u = new URL(raw.includes("://") ? raw : `http://${raw}`);
        urlPath = u.pathname || urlPath;
        hostname = u.host;
      } catch {
        throw new ConfigError(`${tp}.http_service.http_uri.uri`, `"${raw}" is not a URL; write e.g. http://otel-collector:4318/v1/traces`);
      }
    }
    return { provider: { kind: "otlp", cluster, path: urlPath, hostname, serviceName: str(c.service_name) } };
  }
  throw new ConfigError(tp, `tracer ${String(p.name ?? "")} (${String(type)}) is not implemented (envoy.tracers.zipkin, envoy.tracers.opentelemetry)`);
}

export function parseTracingConfig(json: Json, path: string): TracingConfig {
  onlyFields(json, path, ["client_sampling", "random_sampling", "overall_sampling", "custom_tags", "max_path_tag_length", "provider"], ["verbose", "spawn_upstream_span"]);
  const p = obj(json.provider) ? parseProvider(obj(json.provider)!, `${path}.provider`) : {};
  return {
    clientSampling: percent(json.client_sampling, `${path}.client_sampling`, 100),
    randomSampling: percent(json.random_sampling, `${path}.random_sampling`, 100),
    overallSampling: percent(json.overall_sampling, `${path}.overall_sampling`, 100),
    customTags: arr(json.custom_tags).map((t, i) => parseCustomTag(t, `${path}.custom_tags[${i}]`)),
    maxPathTagLength: num(obj(json.max_path_tag_length)?.value ?? json.max_path_tag_length) ?? 256,
    provider: p.provider,
    providerWarning: p.warning,
  };
}
