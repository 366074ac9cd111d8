// The data-plane report judges the targets from the run's own numbers: the
// sidecar's CPU against HAProxy's in the same run, the mTLS path's latency added over
// direct, and the largest Skiff proxy's RSS; and it says which telemetry the run had.
import { test } from "node:test";
import assert from "node:assert/strict";
import { markdownTable, targetVerdicts, type DataplaneResults, type PathFigures } from "../../bench/dataplane/report.ts";

const fig = (o: Partial<PathFigures>): PathFigures => ({ cpu_s_per_1k: 0, rss_mb: 0, p50_ms: 1, p90_ms: 2, p99_ms: 3, max_ms: 4, rps: 0, ...o });

function results(paths: Record<string, Partial<PathFigures>>): DataplaneResults {
  return { machine: "test box", date: "2026-11-24T10:00:00.000Z", paths: Object.fromEntries(Object.entries(paths).map(([k, v]) => [k, fig(v)])) };
}

test("targets: CPU ratio, mTLS latency added and RSS, with by how much each is met or missed", () => {
  const out = results({
    direct: { p90_ms: 0.5, p99_ms: 1.0 },
    haproxy: { cpu_s_per_1k: 0.1, rss_mb: 14 },
    "skiff-sidecar": { cpu_s_per_1k: 0.35, rss_mb: 90 },
    "skiff-mesh-mtls": { cpu_s_per_1k: 0.9, rss_mb: 120, p90_ms: 0.8, p99_ms: 4.0 },
  });
  const v = targetVerdicts(out);
  assert.deepEqual(
    v.map((t) => [t.met, t.measured, t.verdict]),
    [
      [false, "0.350 vs 0.100 CPU-s / 1k requests: 3.50×", "**missed by 1.75×**"],
      [true, "+0.300 ms", "met (0.300 of 0.5 ms)"],
      [false, "+3.000 ms", "**missed by 2.000 ms**"],
      [false, "120.0 MB (largest single Skiff proxy, skiff-mesh-mtls)", "**missed by 2.00×**"],
    ],
  );
});

test("targets: an mTLS path that answered nothing in its window is a miss, not a negative latency", () => {
  const v = targetVerdicts(results({ direct: {}, "skiff-mesh-mtls": { p90_ms: NaN, p99_ms: NaN } }));
  const latency = v.filter((t) => t.target.startsWith("mTLS"));
  assert.equal(latency.length, 2);
  for (const t of latency) assert.deepEqual([t.met, t.measured], [false, "no request answered in the measured window"]);
});

test("targets: a run at another rate says so in every row", () => {
  const v = targetVerdicts(results({ direct: {}, haproxy: { cpu_s_per_1k: 0.1 }, "skiff-sidecar": { cpu_s_per_1k: 0.15, rss_mb: 45 }, "skiff-mesh-mtls": {} }), 200);
  assert.equal(v.length, 4);
  for (const t of v) assert.match(t.target, /(at|under) 200 rps \(target: at 1,000 rps\)/);
});

test("targets: met when within the limit; not judged when the path was not run", () => {
  const v = targetVerdicts(results({ haproxy: { cpu_s_per_1k: 0.1 }, "skiff-sidecar": { cpu_s_per_1k: 0.15, rss_mb: 45 } }));
  assert.deepEqual(v.map((t) => [t.met, t.verdict]), [
    [true, "met (0.75× of the limit)"],
    [true, "met (0.75× of the limit)"],
  ]);
});

test("table: the telemetry the run had, the mTLS ratio against the TLS HAProxy pair, the targets and the checks", () => {
  const out = results({
    direct: {},
    haproxy: { cpu_s_per_1k: 0.1, rss_mb: 10, rps: 40000 },
    "skiff-sidecar": { cpu_s_per_1k: 0.3, rss_mb: 100, rps: 4000 },
    "skiff-mesh-mtls": { cpu_s_per_1k: 0.8, rss_mb: 110, rps: 1000 },
    "haproxy-tls-pair": { cpu_s_per_1k: 0.2, rss_mb: 20, rps: 20000 },
  });
  const md = markdownTable(out, {}, {}, { rate: 1000, connections: 4, seconds: 10, repeats: 3, satSeconds: 10, telemetry: "metrics + access log", checks: { "skiff-mesh-mtls": "mutual TLS: 1 TLS handshakes" } });
  assert.match(md, /^Skiff telemetry: metrics \+ access log \(Istio's prometheus stats filter/m);
  assert.match(md, /^\| skiff-mesh-mtls \/ haproxy-tls-pair \| 4\.00× \| 5\.5× \| 0\.05× \|$/m);
  assert.match(md, /^\| sidecar CPU per request at 1,000 rps ≤ 2× HAProxy's \| 0\.300 vs 0\.100 CPU-s \/ 1k requests: 3\.00× \| \*\*missed by 1\.50×\*\* \|$/m);
  assert.match(md, /^- skiff-mesh-mtls: mutual TLS: 1 TLS handshakes$/m);
  const off = markdownTable(out, {}, {}, { rate: 1000, connections: 4, seconds: 10, repeats: 3, satSeconds: 10, telemetry: "off" });
  assert.match(off, /^Skiff telemetry: off \(no stats filter, no access log\)\.$/m);
});
