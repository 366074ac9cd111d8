// Telemetry providers by name: meshConfig.extensionProviders plus Istio's built-ins
// (`envoy`: the meshConfig.accessLogFile logger; `prometheus`: the stats filters) and the
// legacy tracer (enableTracing + defaultConfig.tracing.zipkin.address).
import type { ExtensionProvider, MeshConfig } from "../types.ts";

/** Istio's default legacy Zipkin address when tracing is on and none is given. */
export const DEFAULT_ZIPKIN_ADDRESS = "zipkin.istio-system:9411";
/** The name given to the provider built from meshConfig's legacy tracing fields. */
export const LEGACY_TRACER = "(meshConfig.defaultConfig.tracing.zipkin)";

export type AccessLogProvider = {
  kind: "file";
  name: string;
  path: string;
  /** TEXT: a format string (undefined = Istio's default); JSON: keys → operators (undefined = Istio's keys). */
  encoding: "TEXT" | "JSON";
  format?: string;
  labels?: Record<string, string>;
};

export type TracingProvider = {
  kind: "zipkin" | "opentelemetry";
  name: string;
  host: string;
  port: number;
  maxTagLength?: number;
  /** Zipkin collector path, or the OTLP/HTTP path. */
  path: string;
  /** OpenTelemetry only: export over gRPC rather than HTTP. */
  grpc?: boolean;
  timeout?: string;
};

export type Provider = AccessLogProvider | TracingProvider | { kind: "prometheus"; name: string };

/** The host part of an Istio provider `service` (`ns/host` or `host`). */
function hostOf(service: string): string {
  const slash = service.indexOf("/");
  return slash >= 0 ? service.slice(slash + 1) : service;
}

function fromExtension(p: ExtensionProvider): Provider | undefined {
  if (p.prometheus) return { kind: "prometheus", name: p.name };
  if (p.zipkin) return { kind: "zipkin", name: p.name, host: hostOf(p.zipkin.service), port: p.zipkin.port, maxTagLength: p.zipkin.maxTagLength, path: p.zipkin.path ?? "/api/v2/spans" };
  if (p.opentelemetry) {
    const o = p.opentelemetry;
    return {
      kind: "opentelemetry",
      name: p.name,
      host: hostOf(o.service),
      port: o.port,
      maxTagLength: o.maxTagLength,
      path: o.http?.path ? (o.http.path.startsWith("/") ? o.http.path : `/${o.http.path}`) : "/v1/traces",
      grpc: !o.http,
      timeout: o.http?.timeout,
    };
  }
  if (p.envoyFileAccessLog) {
    const f = p.envoyFileAccessLog;
    if (f.logFormat?.labels) return { kind: "file", name: p.name, path: f.path || "/dev/stdout", encoding: "JSON", labels: f.logFormat.labels };
    return { kind: "file", name: p.name, path: f.path || "/dev/stdout", encoding: "TEXT", format: f.logFormat?.text };
  }
  return undefined;
}

/** The provider called `name`, or undefined when the mesh config has none by that name. */
export function findProvider(mesh: MeshConfig, name: string): Provider | undefined {
  const own = mesh.extensionProviders?.find((p) => p.name === name);
  if (own) return fromExtension(own);
  if (name === "prometheus") return { kind: "prometheus", name };
  if (name === "envoy") {
    const encoding = mesh.accessLogEncoding ?? "TEXT";
    const format = mesh.accessLogFormat?.trim() ? mesh.accessLogFormat : undefined;
    if (encoding === "JSON" && format) {
      return { kind: "file", name, path: mesh.accessLogFile || "/dev/stdout", encoding, labels: JSON.parse(format) as Record<string, string> };
    }
    return { kind: "file", name, path: mesh.accessLogFile || "/dev/stdout", encoding, format };
  }
  if (name === LEGACY_TRACER) {
    const address = mesh.defaultConfig?.tracing?.zipkin?.address || DEFAULT_ZIPKIN_ADDRESS;
    const colon = address.lastIndexOf(":");
    return { kind: "zipkin", name, host: address.slice(0, colon), port: Number(address.slice(colon + 1)), path: "/api/v2/spans" };
  }
  return undefined;
}

/** Provider names in force before any Telemetry resource: meshConfig.defaultProviders, else the legacy fields. */
export function defaultProviderNames(mesh: MeshConfig): { accessLogging: string[]; tracing: string[]; metrics: string[] } {
  const d = mesh.defaultProviders ?? {};
  return {
    // accessLogFile set = Istio's legacy always-on logger, as the built-in `envoy` provider.
    accessLogging: d.accessLogging ?? (mesh.accessLogFile ? ["envoy"] : []),
    tracing: d.tracing ?? (mesh.enableTracing ? [LEGACY_TRACER] : []),
    // Istio's telemetry v2 is on unless configured otherwise: prometheus when nothing names the providers.
    metrics: d.metrics ?? ["prometheus"],
  };
}
