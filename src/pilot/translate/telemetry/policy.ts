// Which Telemetry resources apply to one proxy and what they add up to, per direction.
// Istio's inheritance: the root namespace's Telemetry without selector, then the
// proxy's namespace's Telemetry without selector, then one there whose selector matches
// the proxy — each level overriding what the one before set. Within a level the oldest
// resource wins (Istio warns about the others; so do we). `match.mode` picks the
// direction an entry applies to: CLIENT (outbound, gateways), SERVER (inbound), or both.
import type { Resource } from "../../../api/types.ts";
import type { ProxyView } from "../context.ts";
import { configOfKind, selectorMatches } from "../context.ts";
import type { TracingCustomTag, TranslationProblem } from "../types.ts";
import { defaultProviderNames } from "./providers.ts";

export type Mode = "CLIENT" | "SERVER";

export interface AccessLogChoice {
  provider: string;
  /** CEL expression; a request is logged when it is true. */
  filter?: string;
  /** Where the filter came from, for problems. */
  source?: string;
}

export interface TracingChoice {
  provider?: string;
  /** 0..100; undefined = the mesh default (defaultConfig.tracing.sampling, else 1). */
  sampling?: number;
  customTags: Record<string, TracingCustomTag>;
  disableSpanReporting: boolean;
}

export interface MetricOverride {
  /** Telemetry metric selector (`REQUEST_COUNT`, `ALL_METRICS`) or a custom metric name. */
  metric: string;
  custom: boolean;
  disabled?: boolean;
  tagOverrides: Record<string, { operation?: "UPSERT" | "REMOVE"; value?: string }>;
}

export interface MetricsChoice {
  providers: string[];
  overrides: MetricOverride[];
}

export interface DirectionTelemetry {
  accessLogs: AccessLogChoice[];
  tracing: TracingChoice | undefined;
  metrics: MetricsChoice;
}

export type TelemetryResource = Resource<"Telemetry">;

function id(r: TelemetryResource): string {
  return `Telemetry/${r.metadata.namespace ?? ""}/${r.metadata.name}`;
}


/** The applicable Telemetry resources, least specific first: mesh, namespace, workload. */
export function telemetryLevels(view: ProxyView, problems: TranslationProblem[]): TelemetryResource[] {
  // Indexed once per push context, oldest first as byAge orders (the same rule).
  const all = configOfKind(view.ctx, "Telemetry");
  const root = view.ctx.mesh.rootNamespace;
  const ns = view.proxy.namespace;
  const pick = (candidates: TelemetryResource[], level: string): TelemetryResource | undefined => {
    const [first, ...rest] = candidates;
    for (const r of rest) {
      problems.push({ resource: id(r), message: `ignored: ${id(first)} is older and also applies ${level}; Istio uses one Telemetry per level. Merge them into one resource.` });
    }
    return first;
  };
  const levels: TelemetryResource[] = [];
  for (const r of all) {
    if (r.spec.targetRef || (r.spec.targetRefs && r.spec.targetRefs.length > 0)) {
      problems.push({ resource: id(r), message: "targetRef(s) on Telemetry is not supported by Skiff yet; the resource is ignored. Use a selector instead." });
    }
  }
  const plain = all.filter((r) => !r.spec.targetRef && !(r.spec.targetRefs && r.spec.targetRefs.length > 0));
  const mesh = pick(plain.filter((r) => r.metadata.namespace === root && !r.spec.selector), `mesh-wide (root namespace ${root})`);
  if (mesh) levels.push(mesh);
  if (ns !== root) {
    const namespace = pick(plain.filter((r) => r.metadata.namespace === ns && !r.spec.selector), `to namespace ${ns}`);
    if (namespace) levels.push(namespace);
  }
  // Selectors in the root namespace select workloads mesh-wide (Istio does the same).
  const workload = pick(
    plain.filter((r) => r.spec.selector && (r.metadata.namespace === ns || r.metadata.namespace === root) && selectorMatches(r.spec.selector?.matchLabels, view.proxy.labels)),
    `to workload ${view.proxy.podName}`,
  );
  if (workload) levels.push(workload);
  return levels;
}

function modeMatches(mode: string | undefined, direction: Mode): boolean {
  return !mode || mode === "CLIENT_AND_SERVER" || mode === direction;
}

/** The telemetry one direction of this proxy gets. */
export function directionTelemetry(view: ProxyView, levels: readonly TelemetryResource[], direction: Mode): DirectionTelemetry {
  const defaults = defaultProviderNames(view.ctx.mesh);

  // Access logging: a map provider → choice, each entry overriding the one before.
  let logs = new Map<string, AccessLogChoice | "disabled">(defaults.accessLogging.map((p) => [p, { provider: p }]));
  for (const level of levels) {
    for (const entry of level.spec.accessLogging ?? []) {
      if (!modeMatches(entry.match?.mode, direction)) continue;
      const names = entry.providers && entry.providers.length > 0 ? entry.providers.map((p) => p.name) : undefined;
      if (names) logs = new Map();
      const targets = names ?? (logs.size > 0 ? [...logs.keys()] : defaults.accessLogging);
      for (const name of targets) {
        const before = logs.get(name);
        const prev = before && before !== "disabled" ? before : { provider: name };
        if (entry.disabled === true) {
          logs.set(name, "disabled");
          continue;
        }
        const next: AccessLogChoice = { provider: name };
        // A level that names providers starts them afresh; one that does not inherits their filter.
        const filter = entry.filter?.expression ?? (names ? undefined : prev.filter);
        if (filter) {
          next.filter = filter;
          next.source = entry.filter?.expression ? id(level) : prev.source;
        }
        logs.set(name, next);
      }
    }
  }

  // Tracing: field by field, later levels win for what they set.
  let tracing: TracingChoice | undefined =
    defaults.tracing.length > 0 ? { provider: defaults.tracing[0], customTags: {}, disableSpanReporting: false } : undefined;
  for (const level of levels) {
    for (const entry of level.spec.tracing ?? []) {
      if (!modeMatches(entry.match?.mode, direction)) continue;
      const base: TracingChoice = tracing ?? { provider: defaults.tracing[0], customTags: {}, disableSpanReporting: false };
      tracing = {
        provider: entry.providers && entry.providers.length > 0 ? entry.providers[0].name : base.provider,
        sampling: entry.randomSamplingPercentage ?? base.sampling,
        customTags: { ...base.customTags, ...(entry.customTags ?? {}) },
        disableSpanReporting: entry.disableSpanReporting ?? base.disableSpanReporting,
      };
    }
  }

  // Metrics: providers replaced by the most specific level that names them; overrides accumulate in order.
  let providers = defaults.metrics;
  const overrides: MetricOverride[] = [];
  for (const level of levels) {
    for (const entry of level.spec.metrics ?? []) {
      if (entry.providers && entry.providers.length > 0) providers = entry.providers.map((p) => p.name);
      for (const o of entry.overrides ?? []) {
        if (!modeMatches(o.match?.mode, direction)) continue;
        const custom = o.match?.customMetric !== undefined;
        overrides.push({ metric: o.match?.customMetric ?? o.match?.metric ?? "ALL_METRICS", custom, disabled: o.disabled, tagOverrides: o.tagOverrides ?? {} });
      }
    }
  }

  const accessLogs = [...logs.values()].filter((c): c is AccessLogChoice => c !== "disabled");
  return { accessLogs, tracing, metrics: { providers, overrides } };
}
