import { test } from "node:test";
import assert from "node:assert/strict";
import {
  MetricsRegistry,
  parseExposition,
  mergeExposition,
  registerIstioMetrics,
  istioLabelValues,
  HTTP_LABELS,
  TCP_LABELS,
  ISTIO_DURATION_BUCKETS_MS,
  ISTIO_PEER_LABEL_COUNT,
  formatBucketBound,
  type RequestFacts,
  type FamilyOverrides,
} from "../../src/telemetry/index.ts";

test("a counter series handle is interned per label tuple and exposed with HELP/TYPE", () => {
  const reg = new MetricsRegistry();
  const fam = reg.family({ name: "demo_total", help: "Demo", type: "counter", labelNames: ["a", "b"] });
  const s1 = fam.series(["x", "y"]);
  const s2 = fam.series(["x", "y"]);
  assert.equal(s1, s2);
  s1.inc();
  s2.inc(2);
  fam.series(["x", "z"]).inc();
  const families = parseExposition(reg.expose());
  assert.equal(families.length, 1);
  assert.equal(families[0].type, "counter");
  assert.equal(families[0].help, "Demo");
  const byB = Object.fromEntries(families[0].samples.map((s) => [s.labels.b, s.value]));
  assert.deepEqual(byB, { y: 3, z: 1 });
});

test("label values are escaped and parse back to the original", () => {
  const reg = new MetricsRegistry();
  const fam = reg.family({ name: "esc_total", help: "line1\nline2 \\", type: "counter", labelNames: ["v"] });
  const tricky = 'a"b\\c\nd';
  fam.series([tricky]).inc();
  const text = reg.expose();
  assert.match(text, /# HELP esc_total line1\\nline2 \\\\/);
  const [f] = parseExposition(text);
  assert.equal(f.samples[0].labels.v, tricky);
});

test("histogram buckets are cumulative with le, +Inf equals count, and sum adds up", () => {
  const reg = new MetricsRegistry();
  const fam = reg.family({ name: "lat", help: "L", type: "histogram", labelNames: ["k"], buckets: [1, 5, 10] });
  const s = fam.series(["v"]);
  for (const v of [0.5, 1, 3, 7, 7, 50]) s.observe(v);
  const [f] = parseExposition(reg.expose());
  const buckets = f.samples.filter((x) => x.name === "lat_bucket").map((x) => [x.labels.le, x.value]);
  assert.deepEqual(buckets, [["1", 2], ["5", 3], ["10", 5], ["+Inf", 6]]);
  assert.equal(f.samples.find((x) => x.name === "lat_sum")!.value, 0.5 + 1 + 3 + 7 + 7 + 50);
  assert.equal(f.samples.find((x) => x.name === "lat_count")!.value, 6);
});

test("exposition is sorted by metric name then label text, regardless of creation order", () => {
  const reg = new MetricsRegistry();
  const b = reg.family({ name: "b_total", help: "B", type: "counter", labelNames: ["k"] });
  const a = reg.family({ name: "a_total", help: "A", type: "counter", labelNames: ["k"] });
  b.series(["2"]).inc();
  b.series(["1"]).inc();
  a.series(["z"]).inc();
  const names = reg.expose().split("\n").filter((l) => l && !l.startsWith("#"));
  assert.deepEqual(names, ['a_total{k="z"} 1', 'b_total{k="1"} 1', 'b_total{k="2"} 1']);
});

test("the ten Istio families have their types, label sets and Envoy's default buckets", () => {
  const reg = new MetricsRegistry();
  const fams = registerIstioMetrics(reg);
  assert.equal(Object.keys(fams).length, 10);
  assert.equal(fams.istio_requests_total.type, "counter");
  assert.equal(fams.istio_request_duration_milliseconds.type, "histogram");
  assert.deepEqual(fams.istio_request_duration_milliseconds.buckets.slice(0, 4), [0.5, 1, 5, 10]);
  assert.equal(fams.istio_request_bytes.buckets.at(-1), 3600000);
  assert.ok(fams.istio_tcp_sent_bytes_total.labelNames.includes("connection_security_policy"));
  assert.ok(!fams.istio_tcp_sent_bytes_total.labelNames.includes("response_code"));
  assert.ok(fams.istio_requests_total.labelNames.includes("grpc_response_status"));
  assert.equal(HTTP_LABELS.length, 25);
  assert.equal(TCP_LABELS.length, 23);
});

const sourceFacts: RequestFacts = {
  reporter: "source",
  local: { workloadName: "sa-webapp", namespace: "default", labels: { app: "sa-webapp", version: "v1" }, clusterId: "Kubernetes" },
  peer: { workloadName: "sa-logic", namespace: "default", labels: { app: "sa-logic" } },
  peerPrincipal: "spiffe://cluster.local/ns/default/sa/sa-logic",
  destinationServiceHost: "sa-logic.default.svc.cluster.local",
  destinationServiceName: "sa-logic",
  protocol: "http",
  responseCode: 200,
};

test("label values from metadata: unknown defaults, canonical service and latest revision", () => {
  const values = istioLabelValues(sourceFacts);
  const labels = Object.fromEntries(HTTP_LABELS.map((n, i) => [n, values[i]]));
  assert.equal(labels.reporter, "source");
  assert.equal(labels.source_workload, "sa-webapp");
  assert.equal(labels.source_canonical_service, "sa-webapp");
  assert.equal(labels.source_canonical_revision, "v1");
  assert.equal(labels.source_principal, "unknown");
  assert.equal(labels.destination_canonical_service, "sa-logic");
  assert.equal(labels.destination_canonical_revision, "latest");
  assert.equal(labels.destination_version, "unknown");
  assert.equal(labels.destination_cluster, "unknown");
  assert.equal(labels.destination_principal, "spiffe://cluster.local/ns/default/sa/sa-logic");
  assert.equal(labels.response_code, "200");
  assert.equal(labels.grpc_response_status, "");
  assert.equal(labels.response_flags, "-");
  assert.equal(labels.connection_security_policy, "unknown");
});

test("destination reporter: mTLS principals give mutual_tls and the namespace from the SPIFFE id", () => {
  const values = istioLabelValues({
    reporter: "destination",
    local: { workloadName: "sa-logic", namespace: "default", labels: { "app.kubernetes.io/name": "logic" } },
    peer: undefined,
    localPrincipal: "spiffe://cluster.local/ns/default/sa/sa-logic",
    peerPrincipal: "spiffe://cluster.local/ns/web/sa/sa-webapp",
    protocol: "tcp",
    responseFlags: "UF",
  });
  const labels = Object.fromEntries(TCP_LABELS.map((n, i) => [n, values[i]]));
  assert.equal(values.length, TCP_LABELS.length);
  assert.equal(labels.source_workload, "unknown");
  assert.equal(labels.source_workload_namespace, "web");
  assert.equal(labels.destination_canonical_service, "logic");
  assert.equal(labels.destination_service, "logic");
  assert.equal(labels.connection_security_policy, "mutual_tls");
  assert.equal(labels.response_flags, "UF");
});

test("Telemetry API overrides: a disabled metric disappears, removed tags merge series, upserted tags appear", () => {
  const reg = new MetricsRegistry();
  const fams = registerIstioMetrics(reg, {
    REQUEST_DURATION: { disabled: true },
    REQUEST_COUNT: { removeTags: ["response_code"], upsertTags: { mesh_id: "skiff" } },
  });
  const v200 = istioLabelValues(sourceFacts);
  const v503 = istioLabelValues({ ...sourceFacts, responseCode: 503, responseFlags: "-" });
  fams.istio_requests_total.series(v200).inc();
  fams.istio_requests_total.series(v503).inc();
  fams.istio_request_duration_milliseconds.series(v200).observe(3);
  const families = parseExposition(reg.expose());
  assert.ok(!families.some((f) => f.name === "istio_request_duration_milliseconds"));
  const req = families.find((f) => f.name === "istio_requests_total")!;
  assert.equal(req.samples.length, 1);
  assert.equal(req.samples[0].value, 2);
  assert.equal(req.samples[0].labels.mesh_id, "skiff");
  assert.equal(req.samples[0].labels.response_code, undefined);
});

test("per-request tags (dynamicTags): values follow the family's own, one replaces a same-named label, TCP families keep their schema", () => {
  const reg = new MetricsRegistry();
  const fams = registerIstioMetrics(reg, { ALL_METRICS: { dynamicTags: ["tenant", "destination_service"] } });
  const values = istioLabelValues(sourceFacts);
  fams.istio_requests_total.series([...values, "blue", "app:200"]).inc();
  fams.istio_requests_total.series([...values, "blue", "app:200"]).inc();
  fams.istio_requests_total.series([...values, "red", "app:200"]).inc();
  // Through a prefix handle too, as the proxy records.
  fams.istio_requests_total.prefix(values.slice(0, 5)).series([...values.slice(5), "red", "app:200"]).inc();
  const req = parseExposition(reg.expose()).find((f) => f.name === "istio_requests_total")!;
  assert.deepEqual(req.samples.map((x) => `${x.labels.tenant} ${x.labels.destination_service} ${x.value}`).sort(), ["blue app:200 2", "red app:200 2"]);
  assert.equal(req.samples[0].labels.response_code, values[HTTP_LABELS.indexOf("response_code")]);
  assert.throws(() => fams.istio_requests_total.series(values), /expected \d+ label values/);
  assert.ok(fams.istio_tcp_sent_bytes_total.labelNames.every((l) => l !== "tenant"));
});

test("an Istio duration histogram puts 3 ms in the le=5 bucket", () => {
  const reg = new MetricsRegistry();
  const fams = registerIstioMetrics(reg);
  fams.istio_request_duration_milliseconds.series(istioLabelValues(sourceFacts)).observe(3);
  const f = parseExposition(reg.expose()).find((x) => x.name === "istio_request_duration_milliseconds")!;
  const le = (b: string) => f.samples.find((s) => s.name.endsWith("_bucket") && s.labels.le === b)!.value;
  assert.equal(le("1"), 0);
  assert.equal(le("5"), 1);
  // Envoy spells the top bounds in %g form; every bound is present.
  assert.deepEqual(
    f.samples.filter((s) => s.name.endsWith("_bucket")).map((s) => s.labels.le),
    [...ISTIO_DURATION_BUCKETS_MS.map(formatBucketBound), "+Inf"],
  );
  assert.equal(le("3.6e+06"), 1);
  assert.equal(le("300000"), 1);
});

test("mergeExposition keeps both sides, joins a shared family once, drops conflicting types", () => {
  const proxy = "# HELP a_total A\n# TYPE a_total counter\na_total{x=\"1\"} 1\n";
  const app =
    "# TYPE a_total counter\na_total{x=\"2\"} 5\n# HELP app_up Up\n# TYPE app_up gauge\napp_up 1\n# TYPE a_total2 gauge\n# EOF\n";
  const merged = mergeExposition(proxy, app);
  const fams = parseExposition(merged);
  assert.deepEqual(fams.map((f) => f.name), ["a_total", "app_up", "a_total2"]);
  assert.equal(fams[0].samples.length, 2);
  assert.equal((merged.match(/# TYPE a_total counter/g) ?? []).length, 1);
  const conflicting = mergeExposition(proxy, "# TYPE a_total gauge\na_total 9\n");
  assert.equal(parseExposition(conflicting)[0].samples.length, 1);
  assert.equal(mergeExposition(proxy, "this is { not metrics"), proxy);
});

test("a prefix handle binds the peer labels once and reaches the same series as a full lookup", () => {
  const cases: Record<string, FamilyOverrides>[] = [{}, { REQUEST_COUNT: { removeTags: ["source_app", "response_flags"], upsertTags: { mesh_id: "m1", reporter: "r" } } }];
  for (const overrides of cases) {
    const reg = new MetricsRegistry();
    const fams = registerIstioMetrics(reg, overrides);
    const v200 = istioLabelValues(sourceFacts);
    const v503 = istioLabelValues({ ...sourceFacts, responseCode: 503, responseFlags: "UF" });
    const peer = fams.istio_requests_total.prefix(v200.slice(0, ISTIO_PEER_LABEL_COUNT));
    peer.series(v200.slice(ISTIO_PEER_LABEL_COUNT)).inc();
    peer.series(v503.slice(ISTIO_PEER_LABEL_COUNT)).inc(2);
    assert.equal(peer.series(v200.slice(ISTIO_PEER_LABEL_COUNT)), fams.istio_requests_total.series(v200));
    fams.istio_requests_total.series(v503).inc();
    const samples = parseExposition(reg.expose()).find((f) => f.name === "istio_requests_total")!.samples;
    const byCode = Object.fromEntries(samples.map((s) => [s.labels.response_code, s.value]));
    assert.deepEqual(byCode, { "200": 1, "503": 3 });
    assert.equal(samples[0].labels.destination_service, "sa-logic.default.svc.cluster.local");
  }
});

test("bucket bounds are written the way Envoy writes them (%g)", () => {
  const cases: [number, string][] = [[0.5, "0.5"], [1, "1"], [25, "25"], [300000, "300000"], [600000, "600000"], [1800000, "1.8e+06"], [3600000, "3.6e+06"], [0.0001, "0.0001"], [0.00001, "1e-05"], [123456789, "1.23457e+08"], [2.5, "2.5"]];
  for (const [n, s] of cases) assert.equal(formatBucketBound(n), s, String(n));
});
