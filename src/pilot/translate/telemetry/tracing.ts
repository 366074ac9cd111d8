// HCM `tracing`: the provider (Zipkin JSON v2 or OpenTelemetry OTLP), sampling and custom
// tags, plus the collector cluster the tracer exports through. Istio's canonical tags
// (istio.canonical_service, ...) are added as literals so every span names its workload.
import { canonicalRevision, canonicalService } from "../../../telemetry/index.ts";
import type { ProxyView } from "../context.ts";
import { clusterName } from "../context.ts";
import { socketAddress, toEnvoyDuration } from "../envoy-json.ts";
import type { EnvoyJson, TracingCustomTag, TranslationProblem } from "../types.ts";
import type { TracingChoice } from "./policy.ts";
import type { TracingProvider } from "./providers.ts";
import { findProvider } from "./providers.ts";

export const TRACER = {
  zipkin: { name: "envoy.tracers.zipkin", type: "type.googleapis.com/envoy.config.trace.v3.ZipkinConfig" },
  opentelemetry: { name: "envoy.tracers.opentelemetry", type: "type.googleapis.com/envoy.config.trace.v3.OpenTelemetryConfig" },
} as const;

/** Istio's mesh default sampling percentage when nothing sets one. */
export const DEFAULT_SAMPLING = 1;

export interface TracingResult {
  /** The HCM `tracing` field, or undefined when this direction does not trace. */
  hcmTracing?: EnvoyJson;
  /** The collector cluster, when the collector is not a service the proxy already has a cluster for. */
  collectorCluster?: EnvoyJson;
}

/**
 * The collector's cluster name: the registry service's own outbound cluster when the
 * provider's host is a visible mesh service (so it is load-balanced over its endpoints
 * like any other), else `outbound|<port>||<host>` built here (STATIC for an IP, STRICT_DNS
 * for a name).
 */
function collector(view: ProxyView, provider: TracingProvider): { cluster: string; authority: string; extra?: EnvoyJson } {
  const domain = view.ctx.mesh.domain;
  const candidates = [provider.host, `${provider.host}.svc.${domain}`];
  // By host (not a walk over every visible service, per proxy); the first in hostname order, as that walk found.
  const service = candidates
    .map((h) => view.service(h))
    .filter((s) => s !== undefined && s.ports.some((p) => p.port === provider.port))
    .sort((a, b) => (a!.hostname < b!.hostname ? -1 : 1))[0];
  if (service) return { cluster: clusterName("outbound", provider.port, "", service.hostname), authority: service.hostname };
  const name = clusterName("outbound", provider.port, "", provider.host);
  const isIp = /^[\d.]+$/.test(provider.host) || provider.host.includes(":");
  const cluster: EnvoyJson = {
    name,
    type: isIp ? "STATIC" : "STRICT_DNS",
    connect_timeout: "10s",
    lb_policy: "ROUND_ROBIN",
    load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: [{ endpoint: { address: socketAddress(provider.host, provider.port) } }] }] },
  };
  if (!isIp) cluster.dns_lookup_family = "V4_ONLY";
  if (provider.kind === "opentelemetry" && provider.grpc) {
    cluster.typed_extension_protocol_options = {
      "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
        "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
        explicit_http_config: { http2_protocol_options: {} },
      },
    };
  }
  return { cluster: name, authority: provider.host, extra: cluster };
}

function customTag(tag: string, t: TracingCustomTag): EnvoyJson {
  if (t.literal) return { tag, literal: { value: t.literal.value } };
  if (t.environment) return { tag, environment: { name: t.environment.name, ...(t.environment.defaultValue ? { default_value: t.environment.defaultValue } : {}) } };
  const h = t.header!;
  return { tag, request_header: { name: h.name, ...(h.defaultValue ? { default_value: h.defaultValue } : {}) } };
}

function percent(value: number): EnvoyJson {
  return { value };
}

export function buildTracing(view: ProxyView, choice: TracingChoice | undefined, problems: TranslationProblem[], where: string): TracingResult {
  if (!choice) return {};
  const mesh = view.ctx.mesh;
  const sampling = choice.sampling ?? mesh.defaultConfig?.tracing?.sampling ?? DEFAULT_SAMPLING;
  const md = { workloadName: view.proxy.workloadName, namespace: view.proxy.namespace, labels: view.proxy.labels };
  const service = canonicalService(md) ?? view.proxy.workloadName;
  const tags: Record<string, TracingCustomTag> = {
    "istio.canonical_revision": { literal: { value: canonicalRevision(md) } },
    "istio.canonical_service": { literal: { value: service } },
    "istio.namespace": { literal: { value: view.proxy.namespace } },
    ...(mesh.defaultConfig?.tracing?.custom_tags ?? {}),
    ...choice.customTags,
  };
  const tracing: EnvoyJson = {
    client_sampling: percent(100),
    random_sampling: percent(sampling),
    overall_sampling: percent(100),
    custom_tags: Object.keys(tags)
      .sort()
      .map((k) => customTag(k, tags[k])),
  };
  const maxPath = mesh.defaultConfig?.tracing?.max_path_tag_length;
  if (maxPath) tracing.max_path_tag_length = maxPath;
  // disableSpanReporting: headers and sampling decisions still flow, nothing is exported.
  if (choice.disableSpanReporting || !choice.provider) return { hcmTracing: tracing };
  const provider = findProvider(mesh, choice.provider);
  if (!provider || (provider.kind !== "zipkin" && provider.kind !== "opentelemetry")) {
    problems.push({
      resource: where,
      message: provider
        ? `provider "${choice.provider}" is a ${provider.kind} provider, not a tracer (zipkin, opentelemetry); spans are not exported.`
        : `tracing provider "${choice.provider}" is not defined in meshConfig.extensionProviders; spans are not exported. Define it or fix the name.`,
    });
    return { hcmTracing: tracing };
  }
  const c = collector(view, provider);
  if (provider.maxTagLength) tracing.max_path_tag_length = provider.maxTagLength;
  if (provider.kind === "zipkin") {
    tracing.provider = {
      name: TRACER.zipkin.name,
      typed_config: {
        "@type": TRACER.zipkin.type,
        collector_cluster: c.cluster,
        collector_endpoint: provider.path,
        collector_endpoint_version: "HTTP_JSON",
        collector_hostname: c.authority,
        trace_id_128bit: true,
        shared_span_context: false,
      },
    };
  } else {
    const config: EnvoyJson = { "@type": TRACER.opentelemetry.type, service_name: `${service}.${view.proxy.namespace}` };
    if (provider.grpc) config.grpc_service = { envoy_grpc: { cluster_name: c.cluster, authority: c.authority } };
    else
      config.http_service = {
        http_uri: { uri: `http://${c.authority}:${provider.port}${provider.path}`, cluster: c.cluster, timeout: (provider.timeout && toEnvoyDuration(provider.timeout)) || "2s" },
      };
    tracing.provider = { name: TRACER.opentelemetry.name, typed_config: config };
  }
  return { hcmTracing: tracing, collectorCluster: c.extra };
}
