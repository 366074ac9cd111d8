// Micro-benchmark of the metrics hot path: what one request costs in
// istio_requests_total / istio_request_duration_milliseconds, with realistic label
// tuples (25 Istio labels, 40 distinct series). Prints ns/op, bytes allocated per
// op (heap delta over a short run with GC forced before it; run with --expose-gc,
// as `npm run bench:telemetry` does) and GCs seen during the timed run.
//
//   cached handle      the proxy keeps the series handle per (peer, route, code)
//   lookup (reused)    series(values) on every request, values array reused
//   lookup (fresh)     istioLabelValues(...) + series(...) per request: the
//                      cost if the proxy recomputes labels for every request
//   histogram          observe() on a cached istio_request_duration_milliseconds handle
//   naive string key   baseline: join 25 labels into a string key per request

import { PerformanceObserver } from "node:perf_hooks";
import { MetricsRegistry, registerIstioMetrics, istioLabelValues, ISTIO_PEER_LABEL_COUNT, type RequestFacts } from "../../src/telemetry/index.ts";

const gc = (globalThis as { gc?: () => void }).gc;

const reg = new MetricsRegistry();
const fams = registerIstioMetrics(reg);
const services = ["sa-frontend", "sa-webapp", "sa-logic", "sa-feedback", "reviews", "ratings", "details", "productpage"];
const codes = [200, 200, 200, 404, 503];
const facts: RequestFacts[] = [];
for (const svc of services) {
  for (const code of codes) {
    facts.push({
      reporter: "destination",
      local: { workloadName: `${svc}-v1`, namespace: "default", labels: { app: svc, version: "v1" }, clusterId: "Kubernetes" },
      peer: { workloadName: "istio-ingressgateway", namespace: "istio-system", labels: { app: "istio-ingressgateway" }, clusterId: "Kubernetes" },
      localPrincipal: `spiffe://cluster.local/ns/default/sa/${svc}`,
      peerPrincipal: "spiffe://cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account",
      destinationServiceHost: `${svc}.default.svc.cluster.local`,
      destinationServiceName: svc,
      protocol: "http",
      responseCode: code,
      responseFlags: code === 503 ? "UF" : "-",
    });
  }
}
const tuples = facts.map(istioLabelValues);
const handles = tuples.map((t) => fams.istio_requests_total.series(t));
const hist = tuples.map((t) => fams.istio_request_duration_milliseconds.series(t));
// What a proxy holding one prefix per (peer, service) does per request.
const prefixes = tuples.map((t) => fams.istio_requests_total.prefix(t.slice(0, ISTIO_PEER_LABEL_COUNT)));
const rests = tuples.map((t) => t.slice(ISTIO_PEER_LABEL_COUNT));
const naive = new Map<string, { v: number }>();

const cases: { name: string; op: (i: number) => void }[] = [
  { name: "cached handle inc", op: (i) => handles[i % handles.length].inc() },
  { name: "lookup (reused values) + inc", op: (i) => fams.istio_requests_total.series(tuples[i % tuples.length]).inc() },
  { name: "prefix + 4-label lookup + inc", op: (i) => prefixes[i % prefixes.length].series(rests[i % rests.length]).inc() },
  { name: "lookup (fresh labels) + inc", op: (i) => fams.istio_requests_total.series(istioLabelValues(facts[i % facts.length])).inc() },
  { name: "histogram observe (cached)", op: (i) => hist[i % hist.length].observe((i % 300) + 0.5) },
  {
    name: "naive string key + inc",
    op: (i) => {
      const key = tuples[i % tuples.length].join("\u0000");
      let s = naive.get(key);
      if (!s) naive.set(key, (s = { v: 0 }));
      s.v++;
    },
  },
];

let gcs = 0;
const obs = new PerformanceObserver((list) => (gcs += list.getEntries().length));
obs.observe({ entryTypes: ["gc"] });

function bytesPerOp(op: (i: number) => void, n: number): number {
  const samples: number[] = [];
  for (let r = 0; r < 5; r++) {
    gc?.();
    const before = process.memoryUsage().heapUsed;
    for (let i = 0; i < n; i++) op(i);
    samples.push((process.memoryUsage().heapUsed - before) / n);
  }
  samples.sort((a, b) => a - b);
  return Math.max(0, samples[2]);
}

const N = 2_000_000;
const rows: string[][] = [];
for (const c of cases) {
  for (let i = 0; i < 200_000; i++) c.op(i); // warm up (JIT)
  const bytes = bytesPerOp(c.op, 20_000);
  gc?.();
  await new Promise((r) => setImmediate(r));
  gcs = 0;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < N; i++) c.op(i);
  const ns = Number(process.hrtime.bigint() - t0) / N;
  await new Promise((r) => setImmediate(r)); // let the GC observer report
  rows.push([c.name, ns.toFixed(1), bytes.toFixed(1), String(gcs)]);
}
obs.disconnect();

const head = ["case", "ns/op", "bytes/op", `GCs in ${N / 1e6}M ops`];
const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
const line = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  ");
console.log(`node ${process.version}, ${tuples.length} series x ${tuples[0].length} labels${gc ? "" : " (run with --expose-gc for stable bytes/op)"}`);
console.log(line(head));
console.log(widths.map((w) => "-".repeat(w)).join("  "));
for (const r of rows) console.log(line(r));
console.log(`series in istio_requests_total: ${fams.istio_requests_total.size}; exposition bytes: ${reg.expose().length}`);
