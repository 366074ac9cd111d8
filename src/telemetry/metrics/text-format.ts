// Prometheus text exposition format 0.0.4: the escaping and number spelling used
// when writing, and a small reader used to merge the app's metrics with the
// proxy's (port 15020) and by tests that check what was written.

/** Label values escape backslash, double quote and newline (and nothing else). */
export function escapeLabelValue(value: string): string {
  if (!/[\\"\n]/.test(value)) return value;
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

/** Numbers as Prometheus spells them: +Inf, -Inf, NaN, otherwise shortest round-trip. */
export function formatNumber(n: number): string {
  if (n === Infinity) return "+Inf";
  if (n === -Infinity) return "-Inf";
  if (Number.isNaN(n)) return "NaN";
  return String(n);
}

/**
 * A bucket bound as Envoy writes `le` on /stats/prometheus: C's %g (six significant
 * digits, exponent form from 1e6 up), so Istio's top buckets read `1.8e+06` and
 * `3.6e+06` exactly as they do from Envoy and queries written against Envoy match.
 */
export function formatBucketBound(n: number): string {
  if (!Number.isFinite(n)) return formatNumber(n);
  if (n === 0) return "0";
  const exp = Math.floor(Math.log10(Math.abs(n)));
  if (exp < -4 || exp >= 6) {
    const [mantissa, e] = n.toExponential(5).split("e");
    const m = mantissa.includes(".") ? mantissa.replace(/\.?0+$/, "") : mantissa;
    const ev = Number(e);
    return `${m}e${ev < 0 ? "-" : "+"}${String(Math.abs(ev)).padStart(2, "0")}`;
  }
  const fixed = n.toFixed(Math.max(0, 5 - exp));
  return fixed.includes(".") ? fixed.replace(/\.?0+$/, "") : fixed;
}

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Family {
  name: string;
  help?: string;
  type?: string;
  /** Raw sample lines, as written (kept verbatim so merging does not reformat). */
  lines: string[];
  samples: Sample[];
}

export class ExpositionParseError extends Error {}

const SUFFIXED_TYPES = new Set(["histogram", "summary", "gaugehistogram"]);

function familyOf(sampleName: string, families: Map<string, Family>): string {
  if (families.has(sampleName)) return sampleName;
  for (const suffix of ["_bucket", "_sum", "_count", "_created", "_total"]) {
    if (!sampleName.endsWith(suffix)) continue;
    const base = sampleName.slice(0, -suffix.length);
    const f = families.get(base);
    if (f && (SUFFIXED_TYPES.has(f.type ?? "") || suffix === "_total" || suffix === "_created")) return base;
  }
  return sampleName;
}

/** Parses one sample line: `name{a="b",...} value [timestamp]`. */
export function parseSampleLine(line: string, where = "line"): Sample {
  const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})?\s+(\S+)(\s+-?\d+)?\s*$/.exec(line);
  if (!m) throw new ExpositionParseError(`${where}: not a Prometheus sample: ${JSON.stringify(line)}`);
  const labels: Record<string, string> = {};
  if (m[2]) {
    const body = m[2].slice(1, -1);
    const re = /\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*(,|$)/y;
    let pos = 0;
    while (pos < body.length) {
      re.lastIndex = pos;
      const lm = re.exec(body);
      if (!lm) throw new ExpositionParseError(`${where}: bad label set in ${JSON.stringify(line)}`);
      labels[lm[1]] = lm[2].replace(/\\(.)/g, (_, c: string) => (c === "n" ? "\n" : c));
      pos = re.lastIndex;
    }
  }
  const raw = m[3];
  const value = raw === "+Inf" ? Infinity : raw === "-Inf" ? -Infinity : raw === "NaN" ? NaN : Number(raw);
  if (Number.isNaN(value) && raw !== "NaN") throw new ExpositionParseError(`${where}: bad value ${JSON.stringify(raw)}`);
  return { name: m[1], labels, value };
}

/** Families in the order they appear; samples attached to their family by name. */
export function parseExposition(text: string, source = "exposition"): Family[] {
  const families = new Map<string, Family>();
  const get = (name: string): Family => {
    let f = families.get(name);
    if (!f) {
      f = { name, lines: [], samples: [] };
      families.set(name, f);
    }
    return f;
  };
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trimEnd();
    if (line === "" || line === "# EOF") continue;
    if (line.startsWith("#")) {
      const m = /^#\s+(HELP|TYPE)\s+([a-zA-Z_:][a-zA-Z0-9_:]*)\s?(.*)$/.exec(line);
      if (!m) continue; // plain comment
      const f = get(m[2]);
      if (m[1] === "HELP") f.help = m[3];
      else f.type = m[3].trim();
      continue;
    }
    const sample = parseSampleLine(line, `${source}:${i + 1}`);
    const f = get(familyOf(sample.name, families));
    f.lines.push(line);
    f.samples.push(sample);
  }
  return [...families.values()];
}

/**
 * The proxy's and the app's metrics as one scrape (Istio's merged port 15020).
 * Proxy families come first; an app family with the same name as a proxy family
 * has its samples appended to the proxy's (the text format forbids a family
 * appearing twice) when the types agree, and is dropped when they conflict,
 * because a scrape with conflicting types would be rejected as a whole.
 * App text that does not parse is left out rather than breaking the proxy's.
 */
export function mergeExposition(proxyText: string, appText: string): string {
  const proxy = parseExposition(proxyText, "proxy");
  let app: Family[] = [];
  try {
    app = parseExposition(appText, "app");
  } catch {
    app = [];
  }
  const byName = new Map(proxy.map((f) => [f.name, f]));
  const merged: Family[] = proxy.map((f) => ({ ...f, lines: [...f.lines] }));
  const mergedByName = new Map(merged.map((f) => [f.name, f]));
  for (const f of app) {
    const mine = byName.get(f.name);
    if (!mine) {
      merged.push(f);
      continue;
    }
    if ((mine.type ?? "untyped") !== (f.type ?? "untyped")) continue;
    mergedByName.get(f.name)!.lines.push(...f.lines);
  }
  const out: string[] = [];
  for (const f of merged) {
    if (f.lines.length === 0 && f.help === undefined && f.type === undefined) continue;
    if (f.help !== undefined) out.push(`# HELP ${f.name} ${f.help}`);
    if (f.type !== undefined) out.push(`# TYPE ${f.name} ${f.type}`);
    out.push(...f.lines);
  }
  return out.length === 0 ? "" : out.join("\n") + "\n";
}
