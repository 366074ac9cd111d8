// The control plane's Prometheus metrics, with Istio's pilot_* names so Istio's
// dashboards work. A tiny text-format registry: counters, gauges and histograms with
// labels; nothing here needs more than that.
type Labels = Record<string, string>;

function labelText(labels: Labels): string {
  const entries = Object.entries(labels).sort(([a], [b]) => a.localeCompare(b));
  if (!entries.length) return "";
  return `{${entries.map(([k, v]) => `${k}="${v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")}"`).join(",")}}`;
}

abstract class Metric {
  constructor(
    readonly name: string,
    readonly help: string,
  ) {}
  abstract render(): string[];
}

export class Counter extends Metric {
  readonly #values = new Map<string, { labels: Labels; value: number }>();
  inc(labels: Labels = {}, by = 1): void {
    const key = labelText(labels);
    const entry = this.#values.get(key) ?? { labels, value: 0 };
    entry.value += by;
    this.#values.set(key, entry);
  }
  get(labels: Labels = {}): number {
    return this.#values.get(labelText(labels))?.value ?? 0;
  }
  render(): string[] {
    return [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`, ...[...this.#values.values()].map((e) => `${this.name}${labelText(e.labels)} ${e.value}`)];
  }
}

export class Gauge extends Metric {
  constructor(
    name: string,
    help: string,
    private readonly read: () => number,
  ) {
    super(name, help);
  }
  render(): string[] {
    return [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} gauge`, `${this.name} ${this.read()}`];
  }
}

export class Histogram extends Metric {
  readonly #series = new Map<string, { labels: Labels; counts: number[]; sum: number; count: number }>();
  constructor(
    name: string,
    help: string,
    readonly buckets: readonly number[],
  ) {
    super(name, help);
  }
  observe(value: number, labels: Labels = {}): void {
    const key = labelText(labels);
    const s = this.#series.get(key) ?? { labels, counts: this.buckets.map(() => 0), sum: 0, count: 0 };
    this.buckets.forEach((bound, i) => {
      if (value <= bound) s.counts[i]++;
    });
    s.sum += value;
    s.count++;
    this.#series.set(key, s);
  }
  count(labels: Labels = {}): number {
    return this.#series.get(labelText(labels))?.count ?? 0;
  }
  render(): string[] {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    for (const s of this.#series.values()) {
      this.buckets.forEach((bound, i) => lines.push(`${this.name}_bucket${labelText({ ...s.labels, le: String(bound) })} ${s.counts[i]}`));
      lines.push(`${this.name}_bucket${labelText({ ...s.labels, le: "+Inf" })} ${s.count}`);
      lines.push(`${this.name}_sum${labelText(s.labels)} ${s.sum}`);
      lines.push(`${this.name}_count${labelText(s.labels)} ${s.count}`);
    }
    return lines;
  }
}

const TIME_BUCKETS = [0.01, 0.1, 0.5, 1, 3, 5, 10, 20, 30];
const SIZE_BUCKETS = [1, 10000, 1000000, 4000000, 10000000, 40000000];

/** The xDS server's metrics (Istio's names). */
export class XdsMetrics {
  connected = 0;
  readonly pushes = new Counter("pilot_xds_pushes", "Pilot build and send errors for lds, rds, cds and eds.");
  readonly rejects = new Counter("pilot_total_xds_rejects", "Total number of xDS responses from pilot rejected by proxy.");
  readonly pushTime = new Histogram("pilot_xds_push_time", "Total time in seconds Pilot takes to push lds, rds, cds and eds.", TIME_BUCKETS);
  readonly convergence = new Histogram("pilot_proxy_convergence_time", "Delay in seconds between config change and a proxy receiving all required configuration.", TIME_BUCKETS);
  readonly configSize = new Histogram("pilot_xds_config_size_bytes", "Distribution of configuration sizes pushed to clients", SIZE_BUCKETS);
  readonly translationErrors = new Counter("pilot_total_translation_problems", "Translation problems and failures, per proxy push.");
  /** part: scope (a sidecar scope's shared outbound side), own (a sidecar's own part), whole (gateways, proxyless, custom translation). */
  readonly translations = new Counter("skiff_xds_translations", "Translations run, by part: scope (shared by the proxies of a sidecar scope), own (per sidecar), whole (per proxy).");
  readonly #gauge = new Gauge("pilot_xds", "Number of endpoints connected to this pilot using XDS.", () => this.connected);

  render(): string {
    const metrics: Metric[] = [this.#gauge, this.pushes, this.rejects, this.pushTime, this.convergence, this.configSize, this.translationErrors, this.translations];
    return `${metrics.flatMap((m) => m.render()).join("\n")}\n`;
  }
}
