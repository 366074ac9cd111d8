// Telemetry translation's public face: for one proxy, decorate the built listeners with
// what meshConfig and the Telemetry API ask for — access logs on every HTTP connection
// manager and tcp_proxy, HCM tracing, Istio's stats and metadata-exchange filters — and
// return the tracer collector clusters to add. Works on finished listeners (a pure pass
// after the builders) so no listener builder needs to know about telemetry; the
// direction comes from each listener's traffic_direction (INBOUND = SERVER mode,
// OUTBOUND and gateways = CLIENT mode). With Skiff's default mesh config nothing is added.
import type { ProxyView } from "../context.ts";
import { FilterName } from "../envoy-json.ts";
import type { EnvoyJson, TranslationProblem } from "../types.ts";
import { accessLogEntries } from "./access-log.ts";
import type { DirectionTelemetry, Mode } from "./policy.ts";
import { directionTelemetry, telemetryLevels } from "./policy.ts";
import { findProvider } from "./providers.ts";
import { httpMetadataExchange, httpStatsFilter, tcpMetadataExchange, tcpStatsFilter } from "./stats.ts";
import { buildTracing } from "./tracing.ts";

export { celSyntaxError, ACCESS_LOG_NAME, ACCESS_LOG_TYPE } from "./access-log.ts";
export { directionTelemetry, telemetryLevels } from "./policy.ts";
export type { DirectionTelemetry, Mode, AccessLogChoice, TracingChoice, MetricOverride } from "./policy.ts";
export { findProvider, defaultProviderNames, DEFAULT_ZIPKIN_ADDRESS } from "./providers.ts";
export { metricConfigs, statsConfig, STATS_FILTER, METADATA_EXCHANGE_FILTER, STATS_CONFIG_TYPE, HTTP_PEER_METADATA_TYPE, TCP_METADATA_EXCHANGE_TYPE, TYPED_STRUCT } from "./stats.ts";
export { TRACER, DEFAULT_SAMPLING } from "./tracing.ts";

/** What one direction adds to its filters. */
interface Decoration {
  accessLog: EnvoyJson[];
  tracing?: EnvoyJson;
  metrics: boolean;
  telemetry: DirectionTelemetry;
}

export interface ProxyTelemetry {
  decorateListeners(listeners: EnvoyJson[]): EnvoyJson[];
  /** Tracer collector clusters that are not registry services (names never clash with theirs). */
  extraClusters: EnvoyJson[];
}

function metricsEnabled(view: ProxyView, t: DirectionTelemetry, problems: TranslationProblem[], where: string): boolean {
  let enabled = false;
  for (const name of t.metrics.providers) {
    const p = findProvider(view.ctx.mesh, name);
    if (p?.kind === "prometheus") enabled = true;
    else
      problems.push({
        resource: where,
        message: p ? `metrics provider "${name}" is a ${p.kind} provider; only prometheus providers produce metrics.` : `metrics provider "${name}" is not defined in meshConfig.extensionProviders; no metrics for it. Define it or fix the name.`,
      });
  }
  return enabled;
}

export function proxyTelemetry(view: ProxyView, problems: TranslationProblem[]): ProxyTelemetry {
  const levels = telemetryLevels(view, problems);
  const where = levels.length > 0 ? `Telemetry/${levels[levels.length - 1].metadata.namespace}/${levels[levels.length - 1].metadata.name}` : "MeshConfig/mesh";
  const gateway = view.proxy.type === "router";
  const extraClusters: EnvoyJson[] = [];
  const decorations = new Map<Mode, Decoration>();
  for (const mode of ["CLIENT", "SERVER"] as const) {
    if (gateway && mode === "SERVER") continue;
    const t = directionTelemetry(view, levels, mode);
    const tracing = buildTracing(view, t.tracing, problems, where);
    if (tracing.collectorCluster && !extraClusters.some((c) => c.name === tracing.collectorCluster!.name)) extraClusters.push(tracing.collectorCluster);
    decorations.set(mode, { accessLog: accessLogEntries(view.ctx.mesh, t.accessLogs, problems, where), tracing: tracing.hcmTracing, metrics: metricsEnabled(view, t, problems, where), telemetry: t });
  }
  const decorateFilter = (filter: EnvoyJson, mode: Mode): EnvoyJson[] => {
    const d = decorations.get(mode)!;
    const config = filter.typed_config as EnvoyJson | undefined;
    if (!config) return [filter];
    if (filter.name === FilterName.hcm) {
      const next: EnvoyJson = { ...config };
      if (d.metrics) {
        const filters = [...((config.http_filters as EnvoyJson[] | undefined) ?? [])];
        const router = filters.findIndex((f) => f.name === FilterName.router);
        filters.splice(router < 0 ? filters.length : router, 0, httpStatsFilter(d.telemetry.metrics.overrides, mode, gateway));
        next.http_filters = [httpMetadataExchange(mode), ...filters];
      }
      if (d.tracing) next.tracing = d.tracing;
      if (d.accessLog.length > 0) next.access_log = [...((config.access_log as EnvoyJson[] | undefined) ?? []), ...d.accessLog];
      return [{ ...filter, typed_config: next }];
    }
    if (filter.name === FilterName.tcpProxy) {
      const next: EnvoyJson = { ...config };
      if (d.accessLog.length > 0) next.access_log = [...((config.access_log as EnvoyJson[] | undefined) ?? []), ...d.accessLog];
      const proxy = { ...filter, typed_config: next };
      return d.metrics ? [tcpStatsFilter(d.telemetry.metrics.overrides, mode, gateway), proxy] : [proxy];
    }
    return [filter];
  };
  const decorateChain = (chain: EnvoyJson, mode: Mode): EnvoyJson => {
    const filters = (chain.filters as EnvoyJson[] | undefined) ?? [];
    const out = filters.flatMap((f) => decorateFilter(f, mode));
    const hasTcp = filters.some((f) => f.name === FilterName.tcpProxy);
    // TCP peers learn each other's metadata only over mTLS (ALPN istio-peer-exchange): server side, TLS chains.
    if (hasTcp && mode === "SERVER" && decorations.get(mode)!.metrics && chain.transport_socket) out.unshift(tcpMetadataExchange());
    return { ...chain, filters: out };
  };
  return {
    extraClusters,
    decorateListeners(listeners) {
      const any = [...decorations.values()].some((d) => d.metrics || d.tracing || d.accessLog.length > 0);
      if (!any) return listeners;
      return listeners.map((l) => {
        const mode: Mode = l.traffic_direction === "INBOUND" && !gateway ? "SERVER" : "CLIENT";
        const next: EnvoyJson = { ...l };
        if (Array.isArray(l.filter_chains)) next.filter_chains = (l.filter_chains as EnvoyJson[]).map((c) => decorateChain(c, mode));
        if (l.default_filter_chain) next.default_filter_chain = decorateChain(l.default_filter_chain as EnvoyJson, mode);
        return next;
      });
    },
  };
}
