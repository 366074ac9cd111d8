// The data-plane results: the JSON shape issue 8 fixes, and the Markdown table with the
// latency added over direct and the Skiff / HAProxy ratios.

export interface PathFigures {
  cpu_s_per_1k: number;
  rss_mb: number;
  p50_ms: number;
  p90_ms: number;
  p99_ms: number;
  max_ms: number;
  rps: number;
}

export interface PathResult extends PathFigures {
  rss_total_mb: number;
  sat_rps: number;
  sat_cpu_cores: number;
  requests: number;
  errors: number;
  non2xx: number;
  achieved_rps: number;
  cpu_cores_at_rate: number;
  /** Per repetition, when there were several. */
  cpu_s_per_1k_runs?: number[];
  p99_ms_runs?: number[];
}

export interface DataplaneResults {
  machine: string;
  date: string;
  paths: Record<string, PathFigures>;
}

const f = (n: number | undefined, d = 3): string => (n === undefined || !Number.isFinite(n) ? "–" : n.toFixed(d));
const plus = (n: number, base: number | undefined): string => (base === undefined ? "–" : `${n - base >= 0 ? "+" : ""}${(n - base).toFixed(3)}`);

export function markdownTable(
  out: DataplaneResults,
  details: Record<string, PathResult>,
  notAvailable: Record<string, string>,
  run: { rate: number; connections: number; seconds: number; repeats: number; satSeconds: number },
): string {
  const direct = out.paths.direct;
  const lines = [
    `Data plane, ${out.date} — ${out.machine}`,
    `Open loop ${run.rate} rps over ${run.connections} keep-alive connections, ${run.repeats} × ${run.seconds} s measured per path (repetitions interleaved across paths; each figure is the median repetition, peak RSS the largest); saturation: wrk -c16, ${run.satSeconds} s. 1 KB responses.`,
    "",
    "| path | CPU s / 1k req | proxy cores at rate | peak RSS MB (largest proxy / all) | p50 ms | p90 ms | p99 ms | max ms | p90 added | p99 added | saturation rps | rps per proxy core | errors |",
    "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
  ];
  for (const [name, p] of Object.entries(out.paths)) {
    const d = details[name];
    lines.push(
      `| ${name} | ${f(p.cpu_s_per_1k, 4)} | ${f(d?.cpu_cores_at_rate)} | ${f(p.rss_mb, 1)} / ${f(d?.rss_total_mb, 1)} | ${f(p.p50_ms)} | ${f(p.p90_ms)} | ${f(p.p99_ms)} | ${f(p.max_ms)} | ${plus(p.p90_ms, direct?.p90_ms)} | ${plus(p.p99_ms, direct?.p99_ms)} | ${f(d?.sat_rps, 0)} | ${name === "direct" ? "(no proxy)" : f(p.rps, 0)} | ${d ? d.errors + d.non2xx : "–"} |`,
    );
  }
  for (const [name, why] of Object.entries(notAvailable)) lines.push(`| ${name} | ${why} |||||||||||| `);
  const ratio = (a: string, b: string): string[] => {
    const x = out.paths[a];
    const y = out.paths[b];
    if (!x || !y) return [];
    return [`| ${a} / ${b} | ${f(x.cpu_s_per_1k / y.cpu_s_per_1k, 2)}× | ${f(x.rss_mb / y.rss_mb, 1)}× | ${f(x.rps / y.rps, 2)}× |`];
  };
  lines.push("", "| ratio | CPU per request | peak RSS | rps per proxy core |", "|---|---|---|---|", ...ratio("skiff-sidecar", "haproxy"), ...ratio("skiff-mesh-plain", "haproxy-tls-pair"), ...ratio("skiff-sidecar", "nginx"));
  const spread = Object.entries(details).filter(([, d]) => (d.cpu_s_per_1k_runs?.length ?? 0) > 1);
  if (spread.length) {
    lines.push("", "Per repetition, CPU s / 1k requests | p99 ms:", "");
    for (const [n, d] of spread) lines.push(`- ${n}: ${d.cpu_s_per_1k_runs!.map((x) => x.toFixed(3)).join(", ")} | ${d.p99_ms_runs!.map((x) => x.toFixed(1)).join(", ")}`);
  }
  return lines.join("\n");
}
