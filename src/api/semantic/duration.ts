// Durations as Istio's CRDs take them: Go's duration syntax (`1.5s`, `100ms`, `1h30m`),
// which is what the CRD's CEL `duration()` accepts. Istio then asks most durations to be at
// least 1ms and to have no precision finer than a millisecond.

const UNIT_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, "µs": 1e-3, "μs": 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const PART = /^(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/;

export type ParsedDuration = { ms: number } | { problem: string };

/** Parses a Go duration into milliseconds. */
export function parseDuration(text: string): ParsedDuration {
  let rest = text.trim();
  if (rest === "") return { problem: "duration is empty" };
  let sign = 1;
  if (rest[0] === "-" || rest[0] === "+") {
    if (rest[0] === "-") sign = -1;
    rest = rest.slice(1);
  }
  if (rest === "0") return { ms: 0 };
  let total = 0;
  let parts = 0;
  while (rest.length > 0) {
    const m = PART.exec(rest);
    if (!m) {
      const hint = /^\d+(\.\d+)?$/.test(rest) ? " (a unit is required, e.g. \"s\" or \"ms\")" : "";
      return { problem: `"${text}" is not a duration${hint}` };
    }
    total += Number(m[1]) * UNIT_MS[m[2]];
    rest = rest.slice(m[0].length);
    parts++;
  }
  if (parts === 0) return { problem: `"${text}" is not a duration` };
  return { ms: sign * total };
}

export const DURATION_FIX = 'write a number with a unit: "100ms", "1.5s", "2m" or "1h"';

/**
 * Istio's ValidateDuration: at least 1ms, millisecond precision. `allowZero` is for fields
 * where 0 means "disabled" (route timeout, TCP idle timeout).
 */
export function checkDurationValue(text: string, options: { allowZero?: boolean } = {}): string | undefined {
  const parsed = parseDuration(text);
  if ("problem" in parsed) return parsed.problem;
  if (parsed.ms === 0 && options.allowZero) return undefined;
  if (parsed.ms < 1) return `duration "${text}" must be at least 1ms`;
  // Compare in nanoseconds to avoid float noise from fractions such as 1.5s.
  if (Math.round(parsed.ms * 1e6) % 1e6 !== 0) return `duration "${text}" is finer than a millisecond; only millisecond precision is supported`;
  return undefined;
}
