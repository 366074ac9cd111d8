// Prometheus's own parser (promtool, from Debian's `prometheus` package) reads what
// the registry and mergeExposition write. Skipped, saying why, where promtool is
// not installed.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { MetricsRegistry, registerIstioMetrics, istioLabelValues, mergeExposition } from "../../src/telemetry/index.ts";

const promtool = spawnSync("promtool", ["--version"], { encoding: "utf8" });
const skip = promtool.error ? "promtool not installed (apt-get install prometheus)" : false;

function check(text: string): { status: number | null; output: string } {
  const r = spawnSync("promtool", ["check", "metrics"], { input: text, encoding: "utf8", timeout: 20_000 });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

test("promtool parses the Istio exposition and the merged 15020 output", { skip }, () => {
  const reg = new MetricsRegistry();
  const fams = registerIstioMetrics(reg);
  const http = istioLabelValues({
    reporter: "source",
    local: { workloadName: 'odd"name\\with\nnewline', namespace: "default", labels: { app: "sa-webapp" } },
    protocol: "http",
    responseCode: 200,
  });
  fams.istio_requests_total.series(http).inc();
  fams.istio_request_duration_milliseconds.series(http).observe(12);
  fams.istio_request_bytes.series(http).observe(3_000_000);
  fams.istio_tcp_sent_bytes_total.series(istioLabelValues({ reporter: "destination", local: {}, protocol: "tcp" })).inc(10);
  const app = "# HELP app_requests_total Requests.\n# TYPE app_requests_total counter\napp_requests_total{path=\"/\"} 3\n# HELP istio_requests_total dup\n# TYPE istio_requests_total counter\nistio_requests_total{reporter=\"app\"} 1\n";
  for (const text of [reg.expose(), mergeExposition(reg.expose(), app)]) {
    const { status, output } = check(text);
    // Exit 0 is clean; 3 is lint advice only. The one piece of advice we expect is
    // about Istio's own metric name (milliseconds), which Skiff must keep.
    const advice = output.split("\n").filter((l) => l.trim() !== "");
    assert.ok(status === 0 || status === 3, `promtool failed (${status}): ${output}`);
    for (const line of advice) assert.match(line, /istio_request_duration_milliseconds use base unit "seconds"/);
  }
});

test("promtool rejects what it should: the check is not vacuous", { skip }, () => {
  assert.equal(check('a{b="x} 1\n').status, 1);
});
