// Envoy's sampling decision for a request entering the mesh or a hop inside it.
// Order (Envoy's): forced tracing (x-envoy-force-trace, or x-client-trace-id, which
// Envoy treats as client-requested tracing) wins; then an upstream decision carried
// in the trace context; then random sampling at the configured percentage.

import type { TraceContext } from "./headers.ts";

export type SamplingReason = "forced" | "client" | "parent" | "random" | "not-sampled";

export interface SamplingInput {
  headers: Readonly<Record<string, string | string[] | undefined>>;
  parent?: TraceContext;
}

export interface SamplingOptions {
  /** 0..100, Istio's randomSamplingPercentage (meshConfig default 1). */
  randomSamplingPercentage: number;
  /** Injected for tests; uniform in [0, 1). */
  random?: () => number;
}

export interface SamplingDecision {
  sampled: boolean;
  reason: SamplingReason;
}

function present(h: SamplingInput["headers"], name: string): boolean {
  const v = h[name];
  return v !== undefined && (Array.isArray(v) ? v.length > 0 : v !== "");
}

export function decideSampling(input: SamplingInput, options: SamplingOptions): SamplingDecision {
  if (present(input.headers, "x-envoy-force-trace")) return { sampled: true, reason: "forced" };
  if (present(input.headers, "x-client-trace-id")) return { sampled: true, reason: "client" };
  if (input.parent?.debug) return { sampled: true, reason: "parent" };
  if (input.parent?.sampled !== undefined) return { sampled: input.parent.sampled, reason: "parent" };
  const pct = Math.min(100, Math.max(0, options.randomSamplingPercentage));
  const r = (options.random ?? Math.random)();
  return r * 100 < pct ? { sampled: true, reason: "random" } : { sampled: false, reason: "not-sampled" };
}
