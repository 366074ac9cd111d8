// Small readers for Envoy's proto3 JSON (as the codec produces it): durations are
// strings like "1.5s", wrappers are plain values, enums are names.

export type Json = Record<string, unknown>;

export function obj(value: unknown): Json | undefined {
  return value !== null && typeof value === "object" && !Array.isArray(value) ? (value as Json) : undefined;
}

export function arr(value: unknown): Json[] {
  return Array.isArray(value) ? (value as Json[]) : [];
}

export function str(value: unknown): string | undefined {
  return typeof value === "string" ? value : undefined;
}

export function num(value: unknown): number | undefined {
  if (typeof value === "number") return value;
  if (typeof value === "string" && value.trim() !== "" && !Number.isNaN(Number(value))) return Number(value);
  return undefined;
}

/** A proto3 JSON Duration ("1.5s", "0s") in milliseconds; undefined when absent. */
export function durationMs(value: unknown): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === "string") {
    const match = /^(-?\d+(?:\.\d+)?)s$/.exec(value.trim());
    if (!match) throw new Error(`"${value}" is not a duration (expected e.g. "1.5s")`);
    return Math.round(Number(match[1]) * 1000);
  }
  const o = obj(value);
  if (o) return (num(o.seconds) ?? 0) * 1000 + Math.round((num(o.nanos) ?? 0) / 1e6);
  throw new Error(`${JSON.stringify(value)} is not a duration`);
}

/** Envoy's FractionalPercent {numerator, denominator: HUNDRED|TEN_THOUSAND|MILLION} → 0..1. */
export function fraction(value: unknown): number {
  const o = obj(value);
  if (!o) return 0;
  const numerator = num(o.numerator) ?? 0;
  const denominator = o.denominator === "MILLION" ? 1_000_000 : o.denominator === "TEN_THOUSAND" ? 10_000 : 100;
  return Math.min(1, numerator / denominator);
}

/**
 * A configuration field the proxy cannot honour. `path` is the field path inside the
 * resource (e.g. `virtual_hosts[0].routes[2].match.grpc`); the xDS client NACKs with it.
 */
export class ConfigError extends Error {
  constructor(
    readonly path: string,
    readonly reason: string,
  ) {
    super(`${path}: ${reason}`);
  }
}

/**
 * The validation pass: every key of `o` must be in `allowed` (fields the proxy
 * implements) or `harmless` (fields that do not change behaviour). Anything else is a
 * ConfigError naming the field, because silently ignoring it would mean the proxy does
 * something other than the control plane asked.
 */
export function onlyFields(o: Json, path: string, allowed: readonly string[], harmless: readonly string[] = []): void {
  for (const key of Object.keys(o)) {
    if (key === "@type") continue;
    if (allowed.includes(key) || harmless.includes(key)) continue;
    throw new ConfigError(path ? `${path}.${key}` : key, "field is not implemented by the skiff proxy");
  }
}
