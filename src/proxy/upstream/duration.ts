// proto3 JSON Durations ("1.5s", "0.250s") and wrapper values, to milliseconds / numbers.

/** Milliseconds of a proto3 JSON Duration; `undefined` when absent; throws a sentence when malformed. */
export function durationMs(value: unknown): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === "string") {
    const m = /^(-?\d+(?:\.\d+)?)s$/.exec(value.trim());
    if (!m) throw new Error(`"${value}" is not a Duration (expected seconds with an "s" suffix, e.g. "1.5s")`);
    return Math.round(Number(m[1]) * 1000);
  }
  if (typeof value === "object") {
    // Also accept the message form {seconds, nanos} that some decoders produce.
    const v = value as { seconds?: number | string; nanos?: number };
    return Math.round(Number(v.seconds ?? 0) * 1000 + (v.nanos ?? 0) / 1e6);
  }
  throw new Error(`${JSON.stringify(value)} is not a Duration (expected e.g. "1.5s")`);
}

/** A UInt32Value / DoubleValue in proto3 JSON is the plain number; accept {value: n} too. */
export function wrappedNumber(value: unknown): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === "number") return value;
  if (typeof value === "string" && value.trim() !== "" && !Number.isNaN(Number(value))) return Number(value);
  if (typeof value === "object" && "value" in (value as object)) return wrappedNumber((value as { value: unknown }).value);
  throw new Error(`${JSON.stringify(value)} is not a number`);
}
