// A small stats registry for the front half (listener and HTTP counters). Counters are
// objects resolved once when a listener or HCM is built, so the hot path is `c.value++`
// with no map lookups and no string building per request.

export interface Counter {
  readonly name: string;
  readonly kind: "counter" | "gauge";
  value: number;
}

export class StatsRegistry {
  private readonly stats = new Map<string, Counter>();

  counter(name: string): Counter {
    return this.get(name, "counter");
  }

  gauge(name: string): Counter {
    return this.get(name, "gauge");
  }

  private get(name: string, kind: "counter" | "gauge"): Counter {
    let c = this.stats.get(name);
    if (!c) {
      c = { name, kind, value: 0 };
      this.stats.set(name, c);
    }
    return c;
  }

  all(): Counter[] {
    return [...this.stats.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }
}

/**
 * Envoy's Prometheus names for the front half's stats, with its tag extraction:
 * `http.<prefix>.downstream_rq_total` → `envoy_http_downstream_rq_total{envoy_http_conn_manager_prefix="<prefix>"}`,
 * `listener.<address>.downstream_cx_total` → `envoy_listener_downstream_cx_total{envoy_listener_address="<address>"}`.
 */
export function prometheusFrontStats(stats: readonly Counter[]): string {
  const groups = new Map<string, { kind: string; lines: string[] }>();
  for (const c of stats) {
    let metric: string;
    let labels = "";
    const m = /^(http|listener)\.(.+)\.([a-z0-9_]+)$/.exec(c.name);
    if (m) {
      metric = `envoy_${m[1]}_${m[3]}`;
      const label = m[1] === "http" ? "envoy_http_conn_manager_prefix" : "envoy_listener_address";
      labels = `{${label}="${m[2].replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"}`;
    } else {
      metric = `envoy_${c.name.replace(/[^a-zA-Z0-9_]/g, "_")}`;
    }
    let g = groups.get(metric);
    if (!g) groups.set(metric, (g = { kind: c.kind, lines: [] }));
    g.lines.push(`${metric}${labels} ${c.value}`);
  }
  const out: string[] = [];
  for (const [metric, g] of [...groups].sort(([a], [b]) => (a < b ? -1 : 1))) {
    out.push(`# TYPE ${metric} ${g.kind}`, ...g.lines);
  }
  return out.length ? out.join("\n") + "\n" : "";
}
