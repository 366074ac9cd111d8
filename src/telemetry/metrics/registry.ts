// Counters and histograms with a fixed label schema, built for the proxy's hot
// path: the caller resolves a series handle once per distinct label tuple and then
// only does arithmetic on it. Label values are interned through a nested Map (one
// level per label), so finding a series never concatenates strings, and the
// Prometheus label text is built once, when the series is first created.

import { escapeLabelValue, formatBucketBound, formatNumber } from "./text-format.ts";

export type MetricType = "counter" | "histogram";

/** Telemetry API style overrides for one family (Istio's `metrics.overrides`). */
export interface FamilyOverrides {
  /** The metric is not reported at all: series() hands out a shared no-op handle. */
  disabled?: boolean;
  /** Labels dropped from the output; series that differ only in them are merged. */
  removeTags?: readonly string[];
  /**
   * Labels set to a constant (an existing label's value is replaced, a new label is
   * appended to the schema). Istio takes a CEL expression here; the expression is
   * evaluated by whoever builds the overrides, Skiff's registry gets its result.
   */
  upsertTags?: Readonly<Record<string, string>>;
  /**
   * Labels whose value differs per request (Istio's CEL tag values such as
   * `request.host`): appended to the schema, their values passed after the family's
   * own labels in the tuple given to series(). One that names an existing label
   * replaces it.
   */
  dynamicTags?: readonly string[];
}

export interface FamilyOptions {
  name: string;
  help: string;
  type: MetricType;
  /** Label names in the order the caller passes values to series(). */
  labelNames: readonly string[];
  /** Histogram upper bounds, ascending; `+Inf` is implicit. */
  buckets?: readonly number[];
  overrides?: FamilyOverrides;
}

export interface CounterSeries {
  inc(amount?: number): void;
  readonly value: number;
}

export interface HistogramSeries {
  observe(value: number): void;
  readonly count: number;
  readonly sum: number;
  /** Per-bucket (non-cumulative) counts; the last entry is the +Inf overflow. */
  readonly bucketCounts: Float64Array;
}

class Counter implements CounterSeries {
  value = 0;
  constructor(readonly labelText: string) {}
  inc(amount = 1): void {
    // Counters only go up; a negative or NaN amount is a caller bug we refuse
    // silently rather than corrupting the exposition.
    if (amount > 0) this.value += amount;
  }
}

class Histogram implements HistogramSeries {
  count = 0;
  sum = 0;
  readonly bucketCounts: Float64Array;
  constructor(
    readonly labelText: string,
    private readonly bounds: readonly number[],
  ) {
    this.bucketCounts = new Float64Array(bounds.length + 1);
  }
  observe(value: number): void {
    if (Number.isNaN(value)) return;
    const bounds = this.bounds;
    // Linear scan: Istio's bucket lists have ~19 entries and most observations
    // land in the first few, which beats a binary search here.
    let i = 0;
    while (i < bounds.length && value > bounds[i]) i++;
    this.bucketCounts[i]++;
    this.count++;
    this.sum += value;
  }
}

const noopSeries: CounterSeries & HistogramSeries = {
  inc() {},
  observe() {},
  value: 0,
  count: 0,
  sum: 0,
  bucketCounts: new Float64Array(0),
};

type Series = Counter | Histogram;

/** Leading labels bound once; see MetricFamily.prefix. */
export interface SeriesPrefix {
  /** The series for the remaining label values, in labelNames order after the bound ones. */
  series(rest: readonly string[]): CounterSeries & HistogramSeries;
}

const EMPTY: readonly string[] = [];
type Trie = Map<string, Trie | Series>;

export class MetricFamily {
  readonly name: string;
  readonly help: string;
  readonly type: MetricType;
  readonly labelNames: readonly string[];
  readonly buckets: readonly number[];
  readonly disabled: boolean;
  /** Indices into the caller's tuple that reach the output, in output order. */
  private readonly keptIndices: number[];
  /** Output label names (kept ones, then appended upserts) and constant values. */
  private readonly outputNames: string[];
  private readonly constants: (string | undefined)[];
  /** True when no override changes positions: output position k is input label k. */
  private readonly plain: boolean;
  private readonly root: Trie = new Map();
  private readonly all: Series[] = [];

  constructor(options: FamilyOptions) {
    this.name = options.name;
    this.help = options.help;
    this.type = options.type;
    const dynamic = options.overrides?.dynamicTags ?? [];
    this.labelNames = dynamic.length === 0 ? options.labelNames : [...options.labelNames, ...dynamic];
    this.buckets = options.buckets ?? [];
    if (this.type === "histogram") {
      for (let i = 1; i < this.buckets.length; i++) {
        if (!(this.buckets[i] > this.buckets[i - 1])) {
          throw new Error(`metric ${this.name}: histogram buckets must be strictly ascending (got ${this.buckets.join(",")})`);
        }
      }
    }
    const overrides = options.overrides ?? {};
    this.disabled = overrides.disabled === true;
    const removed = new Set(overrides.removeTags ?? []);
    const upserts = overrides.upsertTags ?? {};
    this.keptIndices = [];
    this.outputNames = [];
    this.constants = [];
    const own = options.labelNames.length;
    this.labelNames.forEach((label, i) => {
      if (removed.has(label)) return;
      // A dynamic tag that names one of the family's labels replaces it.
      if (i < own && dynamic.includes(label)) return;
      this.constants.push(label in upserts ? upserts[label] : undefined);
      this.keptIndices.push(i);
      this.outputNames.push(label);
    });
    for (const [label, value] of Object.entries(upserts)) {
      if (this.labelNames.includes(label) || removed.has(label)) continue;
      this.constants.push(value);
      this.keptIndices.push(-1);
      this.outputNames.push(label);
    }
    this.plain = this.outputNames.length === this.labelNames.length && this.constants.every((c) => c === undefined);
  }

  /**
   * The series for a tuple of label values (same order as labelNames). Call once
   * per distinct tuple and keep the handle; repeated calls with equal values
   * return the same handle without allocating (one Map lookup per label).
   */
  series(values: readonly string[]): CounterSeries & HistogramSeries {
    if (this.disabled) return noopSeries;
    return this.lookup(this.root, 0, values, 0, EMPTY);
  }

  /**
   * Binds the first `values.length` labels once, for callers whose leading labels
   * are fixed for a while (Istio's peer and service labels are fixed per upstream
   * cluster and peer; only the response labels vary per request). The returned
   * prefix's series(rest) only walks the remaining labels.
   */
  prefix(values: readonly string[]): SeriesPrefix {
    if (this.disabled) return { series: () => noopSeries };
    if (values.length >= this.labelNames.length) {
      throw new Error(`metric ${this.name}: a prefix binds fewer than all ${this.labelNames.length} labels, got ${values.length}`);
    }
    const bound = values.slice();
    const last = this.outputNames.length - 1;
    let node = this.root;
    let k = 0;
    // Never consume the last position: that one holds the leaf (the series).
    for (; k < last; k++) {
      const i = this.keptIndices[k];
      if (i < 0 || i >= bound.length) break;
      const v = this.constants[k] ?? bound[i] ?? "";
      let next = node.get(v) as Trie | undefined;
      if (next === undefined) {
        next = new Map();
        node.set(v, next);
      }
      node = next;
    }
    const at = node;
    const from = k;
    const offset = bound.length;
    return { series: (rest) => this.lookup(at, from, rest, offset, bound) };
  }

  /** Walks output positions from `k0`; input label i is bound[i] below `offset`, values[i - offset] above. */
  private lookup(start: Trie, k0: number, values: readonly string[], offset: number, bound: readonly string[]): Series & CounterSeries & HistogramSeries {
    const last = this.outputNames.length - 1;
    if (last < 0) return (this.all[0] as (Series & CounterSeries & HistogramSeries) | undefined) ?? this.create(values);
    let node = start;
    if (this.plain) {
      // No overrides: output position k is input label k.
      for (let k = k0; k < last; k++) {
        const v = (k < offset ? bound[k] : values[k - offset]) ?? "";
        let next = node.get(v) as Trie | undefined;
        if (next === undefined) {
          next = new Map();
          node.set(v, next);
        }
        node = next;
      }
    } else {
      for (let k = k0; k < last; k++) {
        const v = this.valueAt(values, offset, bound, k);
        let next = node.get(v) as Trie | undefined;
        if (next === undefined) {
          next = new Map();
          node.set(v, next);
        }
        node = next;
      }
    }
    const leafKey = this.valueAt(values, offset, bound, last);
    const found = node.get(leafKey) as Series | undefined;
    if (found !== undefined) return found as Series & CounterSeries & HistogramSeries;
    const created = this.create(offset === 0 ? values : [...bound, ...values]);
    node.set(leafKey, created);
    return created;
  }

  private valueAt(values: readonly string[], offset: number, bound: readonly string[], k: number): string {
    const constant = this.constants[k];
    if (constant !== undefined) return constant;
    const i = this.keptIndices[k];
    return (i < offset ? bound[i] : values[i - offset]) ?? "";
  }

  private create(values: readonly string[]): Series & CounterSeries & HistogramSeries {
    if (values.length !== this.labelNames.length) {
      throw new Error(`metric ${this.name}: expected ${this.labelNames.length} label values (${this.labelNames.join(", ")}), got ${values.length}`);
    }
    const parts: string[] = [];
    for (let k = 0; k < this.outputNames.length; k++) {
      parts.push(`${this.outputNames[k]}="${escapeLabelValue(this.valueAt(values, 0, EMPTY, k))}"`);
    }
    const labelText = parts.join(",");
    const s: Series =
      this.type === "counter" ? new Counter(labelText) : new Histogram(labelText, this.buckets);
    this.all.push(s);
    return s as Series & CounterSeries & HistogramSeries;
  }

  /** Number of live series (for tests and the admin page). */
  get size(): number {
    return this.all.length;
  }

  /** This family in Prometheus text format 0.0.4; series sorted by label text. */
  expose(out: string[]): void {
    if (this.disabled || this.all.length === 0) return;
    out.push(`# HELP ${this.name} ${escapeHelp(this.help)}`);
    out.push(`# TYPE ${this.name} ${this.type}`);
    const sorted = [...this.all].sort((a, b) => (a.labelText < b.labelText ? -1 : a.labelText > b.labelText ? 1 : 0));
    for (const s of sorted) {
      if (s instanceof Counter) {
        out.push(`${this.name}${braces(s.labelText)} ${formatNumber(s.value)}`);
        continue;
      }
      const sep = s.labelText === "" ? "" : ",";
      let cumulative = 0;
      for (let i = 0; i < this.buckets.length; i++) {
        cumulative += s.bucketCounts[i];
        out.push(`${this.name}_bucket{${s.labelText}${sep}le="${formatBucketBound(this.buckets[i])}"} ${formatNumber(cumulative)}`);
      }
      out.push(`${this.name}_bucket{${s.labelText}${sep}le="+Inf"} ${formatNumber(s.count)}`);
      out.push(`${this.name}_sum${braces(s.labelText)} ${formatNumber(s.sum)}`);
      out.push(`${this.name}_count${braces(s.labelText)} ${formatNumber(s.count)}`);
    }
  }
}

function braces(labelText: string): string {
  return labelText === "" ? "" : `{${labelText}}`;
}

function escapeHelp(help: string): string {
  return help.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}

export class MetricsRegistry {
  private readonly families = new Map<string, MetricFamily>();

  /** Registers a family; registering the same name twice is a programming error. */
  family(options: FamilyOptions): MetricFamily {
    if (!/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(options.name)) {
      throw new Error(`metric name "${options.name}" is not a valid Prometheus metric name`);
    }
    if (this.families.has(options.name)) throw new Error(`metric ${options.name} is already registered`);
    const f = new MetricFamily(options);
    this.families.set(options.name, f);
    return f;
  }

  get(name: string): MetricFamily | undefined {
    return this.families.get(name);
  }

  /** All families in Prometheus text format 0.0.4, sorted by metric name. */
  expose(): string {
    const out: string[] = [];
    for (const name of [...this.families.keys()].sort()) this.families.get(name)!.expose(out);
    return out.length === 0 ? "" : out.join("\n") + "\n";
  }
}

/** The Content-Type Prometheus expects for text format 0.0.4. */
export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";
