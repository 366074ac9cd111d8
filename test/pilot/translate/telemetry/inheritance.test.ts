// Telemetry API inheritance (root namespace → namespace → workload selector) and mode
// matching, seen where a user sees it: the access logs, tracing and stats filters of the
// proxy's inbound (SERVER) and outbound (CLIENT) connection managers.
import { test } from "node:test";
import assert from "node:assert/strict";
import { loadText } from "../../../../src/api/index.ts";
import { buildRegistry } from "../../../../src/registry/build.ts";
import { translate, defaultMeshConfig } from "../../../../src/pilot/translate/index.ts";
import type { EnvoyJson, MeshConfig, ProxyNode } from "../../../../src/pilot/translate/index.ts";
import { celSyntaxError } from "../../../../src/pilot/translate/telemetry/index.ts";

const base = `
apiVersion: v1
kind: Service
metadata: {name: reviews, namespace: default}
spec:
  clusterIP: 10.96.0.10
  selector: {app: reviews}
  ports: [{name: http, port: 9080, targetPort: 8080}]
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: reviews-1, namespace: default}
spec: {address: 10.0.0.5, labels: {app: reviews}, serviceAccount: reviews}
`;

const proxy: ProxyNode = {
  id: "sidecar~10.0.0.5~reviews-1.default~default.svc.cluster.local",
  type: "sidecar",
  ipAddresses: ["10.0.0.5"],
  podName: "reviews-1.default",
  namespace: "default",
  labels: { app: "reviews" },
  serviceAccount: "reviews",
  workloadName: "reviews-1",
  metadata: { INTERCEPTION_MODE: "NONE" },
};

function telemetry(name: string, namespace: string, spec: string): string {
  return `---\napiVersion: telemetry.istio.io/v1\nkind: Telemetry\nmetadata: {name: ${name}, namespace: ${namespace}}\nspec:\n${spec.replace(/^/gm, "  ")}\n`;
}

/** The HCM configs of the proxy's outbound and inbound listeners. */
function hcms(extra: string, mesh: Partial<MeshConfig> = {}): { client: EnvoyJson; server: EnvoyJson; problems: string[] } {
  const { resources: config, diagnostics } = loadText(base + extra, "input.yaml");
  assert.deepEqual(diagnostics.filter((d) => d.severity === "error"), []);
  const m = { ...defaultMeshConfig, ...mesh };
  const result = translate({ config, registry: buildRegistry(config, { domain: m.domain, version: 1 }), mesh: m, version: 1 }, proxy);
  const hcmOf = (direction: string): EnvoyJson => {
    const listener = result.resources.listeners.find((l) => l.traffic_direction === direction && JSON.stringify(l).includes("http_connection_manager"));
    assert.ok(listener, `no ${direction} HTTP listener`);
    const chains = listener.filter_chains as EnvoyJson[];
    return (chains[chains.length - 1].filters as EnvoyJson[])[0].typed_config as EnvoyJson;
  };
  return { client: hcmOf("OUTBOUND"), server: hcmOf("INBOUND"), problems: result.problems.map((p) => `${p.resource}: ${p.message}`) };
}

const sampling = (hcm: EnvoyJson): unknown => (hcm.tracing as EnvoyJson | undefined)?.random_sampling;
const logPaths = (hcm: EnvoyJson): string[] => ((hcm.access_log as EnvoyJson[] | undefined) ?? []).map((a) => String((a.typed_config as EnvoyJson).path));
const filterNames = (hcm: EnvoyJson): string[] => (hcm.http_filters as EnvoyJson[]).map((f) => String(f.name));

const zipkinMesh: Partial<MeshConfig> = { extensionProviders: [{ name: "zk", zipkin: { service: "127.0.0.1", port: 9411 } }] };

test("the default mesh config is Istio's: metrics and 1 % tracing to zipkin.istio-system:9411 on, no access log", () => {
  const { client, server } = hcms("");
  for (const hcm of [client, server]) {
    assert.equal(hcm.access_log, undefined);
    assert.deepEqual(sampling(hcm), { value: 1 });
    const zipkin = ((hcm.tracing as EnvoyJson).provider as EnvoyJson).typed_config as EnvoyJson;
    assert.equal(zipkin.collector_cluster, "outbound|9411||zipkin.istio-system");
    assert.deepEqual(filterNames(hcm), ["istio.metadata_exchange", "envoy.filters.http.cors", "envoy.filters.http.fault", "istio.stats", "envoy.filters.http.router"]);
  }
});

test("enableTracing false and no metrics providers: no telemetry at all (proxies that lack the filters keep working)", () => {
  const { client, server } = hcms("", { enableTracing: false, defaultProviders: { metrics: [] } });
  for (const hcm of [client, server]) {
    assert.equal(hcm.access_log, undefined);
    assert.equal(hcm.tracing, undefined);
    assert.deepEqual(filterNames(hcm), ["envoy.filters.http.cors", "envoy.filters.http.fault", "envoy.filters.http.router"]);
  }
});

test("sampling: the workload level beats the namespace, which beats the root namespace", () => {
  const root = telemetry("mesh", "istio-system", "tracing:\n- providers: [{name: zk}]\n  randomSamplingPercentage: 10");
  const ns = telemetry("ns", "default", "tracing:\n- randomSamplingPercentage: 20");
  const wl = telemetry("wl", "default", "selector: {matchLabels: {app: reviews}}\ntracing:\n- randomSamplingPercentage: 30");
  assert.deepEqual(sampling(hcms(root, zipkinMesh).client), { value: 10 });
  assert.deepEqual(sampling(hcms(root + ns, zipkinMesh).client), { value: 20 });
  assert.deepEqual(sampling(hcms(root + ns + wl, zipkinMesh).client), { value: 30 });
});

test("a selector that does not match the proxy, or a Telemetry in another namespace, does not apply", () => {
  const root = telemetry("mesh", "istio-system", "tracing:\n- providers: [{name: zk}]\n  randomSamplingPercentage: 10");
  const other = telemetry("other", "default", "selector: {matchLabels: {app: ratings}}\ntracing:\n- randomSamplingPercentage: 99");
  const elsewhere = telemetry("elsewhere", "prod", "tracing:\n- randomSamplingPercentage: 98");
  assert.deepEqual(sampling(hcms(root + other + elsewhere, zipkinMesh).server), { value: 10 });
});

test("without Telemetry sampling, defaultConfig.tracing.sampling, else Istio's 1%", () => {
  assert.deepEqual(sampling(hcms("", { enableTracing: true }).client), { value: 1 });
  assert.deepEqual(sampling(hcms("", { enableTracing: true, defaultConfig: { tracing: { sampling: 7 } } }).client), { value: 7 });
});

test("match mode CLIENT changes only outbound; SERVER only inbound", () => {
  const root = telemetry("mesh", "istio-system", "tracing:\n- providers: [{name: zk}]\n  randomSamplingPercentage: 10");
  const ns = telemetry("ns", "default", "tracing:\n- match: {mode: SERVER}\n  randomSamplingPercentage: 60");
  const { client, server } = hcms(root + ns, zipkinMesh);
  assert.deepEqual(sampling(client), { value: 10 });
  assert.deepEqual(sampling(server), { value: 60 });
});

test("access logs: a workload disables what the root namespace enabled, for one mode", () => {
  const root = telemetry("mesh", "istio-system", "accessLogging:\n- providers: [{name: envoy}]");
  const wl = telemetry("wl", "default", "selector: {matchLabels: {app: reviews}}\naccessLogging:\n- match: {mode: CLIENT}\n  disabled: true");
  const on = hcms(root);
  assert.deepEqual([logPaths(on.client), logPaths(on.server)], [["/dev/stdout"], ["/dev/stdout"]]);
  const off = hcms(root + wl);
  assert.deepEqual([logPaths(off.client), logPaths(off.server)], [[], ["/dev/stdout"]]);
});

test("access logs: accessLogFile alone logs everywhere; a namespace Telemetry can turn it off", () => {
  const mesh = { accessLogFile: "/tmp/mesh.log" };
  assert.deepEqual(logPaths(hcms("", mesh).server), ["/tmp/mesh.log"]);
  const off = telemetry("ns", "default", "accessLogging:\n- disabled: true");
  assert.deepEqual(logPaths(hcms(off, mesh).server), []);
});

test("a filter set at the namespace is inherited by a workload entry that only re-enables the provider", () => {
  const ns = telemetry("ns", "default", "accessLogging:\n- filter: {expression: 'response.code >= 500'}");
  const wl = telemetry("wl", "default", "selector: {matchLabels: {app: reviews}}\naccessLogging:\n- disabled: false");
  const { server } = hcms(ns + wl, { accessLogFile: "/dev/stdout" });
  const entry = (server.access_log as EnvoyJson[])[0];
  assert.deepEqual(entry.filter, {
    extension_filter: {
      name: "envoy.access_loggers.extension_filters.cel",
      typed_config: { "@type": "type.googleapis.com/envoy.extensions.access_loggers.filters.cel.v3.ExpressionFilter", expression: "response.code >= 500" },
    },
  });
});

test("metrics: prometheus adds metadata exchange first and stats before the router; a Telemetry can switch providers off", () => {
  const mesh: Partial<MeshConfig> = { defaultProviders: { metrics: ["prometheus"] } };
  const on = hcms("", mesh);
  assert.deepEqual(filterNames(on.server), ["istio.metadata_exchange", "envoy.filters.http.cors", "envoy.filters.http.fault", "istio.stats", "envoy.filters.http.router"]);
  const off = hcms(telemetry("ns", "default", "metrics:\n- providers: [{name: nothing-here}]"), mesh);
  assert.equal(filterNames(off.server).includes("istio.stats"), false);
  assert.ok(off.problems.some((p) => p.includes('metrics provider "nothing-here" is not defined')), off.problems.join("\n"));
});

test("two Telemetry resources at one level: the oldest applies, the other is reported", () => {
  const a = telemetry("a", "default", "tracing:\n- randomSamplingPercentage: 11").replace("namespace: default}", "namespace: default, creationTimestamp: '2024-01-01T00:00:00Z'}");
  const b = telemetry("b", "default", "tracing:\n- randomSamplingPercentage: 22").replace("namespace: default}", "namespace: default, creationTimestamp: '2023-01-01T00:00:00Z'}");
  const { client, problems } = hcms(a + b, { enableTracing: true });
  assert.deepEqual(sampling(client), { value: 22 });
  assert.ok(problems.some((p) => p.startsWith("Telemetry/default/a: ignored")), problems.join("\n"));
});

test("CEL syntax is checked by a real CEL parser", () => {
  assert.equal(celSyntaxError("response.code >= 400 && request.headers['x-debug'] == 'on'"), undefined);
  assert.match(celSyntaxError("response.code >=") ?? "", /Unexpected|EOF/);
});
