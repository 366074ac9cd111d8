// Issue 7 "Done when", traces and access logs, over `skiff up` (a real child process) on the
// sentiment sample with samples/mesh-config/sentiment.yaml (TEXT access logs to each proxy's
// log, Zipkin tracing at 100 % to the embedded trace store, Istio's metrics):
// - one request gateway → sa-webapp → sa-logic gives one trace with a span from each proxy in
//   parent/child order, and its x-request-id in every hop's access log (read with `skiff logs`);
// - the gateway's access-log line for each row of a table of requests (success, 404 NR,
//   503 UH, 503 UF, 504 UT, 403 RBAC, fault-injected FI) matches Envoy's format field by field.
import { test } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { kernelFreePort } from "../../src/runtime/index.ts";
import { ISTIO, eventually, startDemo, traceOf, type Demo } from "./helpers/demo-up.ts";
import { parseEnvoyLine, type EnvoyLogLine } from "./helpers/envoy-log.ts";

/** Access-log lines of a workload's proxy (`skiff logs W -c proxy`) with a given x-request-id. */
async function proxyLines(demo: Demo, workload: string, requestId: string): Promise<EnvoyLogLine[]> {
  const r = await demo.skiff("logs", workload, "-c", "proxy", "-n", workload === "istio-ingressgateway" ? "istio-system" : "demo");
  assert.equal(r.code, 0, r.stderr);
  return r.stdout
    .split("\n")
    .map((l) => parseEnvoyLine(l.replace(/^\S+\s+\|\s?/, "")) ?? parseEnvoyLine(l))
    .filter((l): l is EnvoyLogLine => l !== undefined && l.requestId === requestId);
}

test("the demo's traces and access logs with the sample mesh config", { timeout: 240_000 }, async (t) => {
  const demo = await startDemo(t);
  const applied = await demo.skiff("apply", "-f", join(ISTIO, "http-gateway.yaml"), "-f", join(ISTIO, "vs-route-ingress.yaml"));
  assert.equal(applied.code, 0, applied.stderr);
  const sentiment = (id: string, path = "/sentiment") =>
    fetch(`http://127.0.0.1:${demo.port}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-request-id": id, "user-agent": "skiff-e2e" },
      body: JSON.stringify({ sentence: "a good day" }),
      signal: AbortSignal.timeout(10_000),
    });
  const warm = await eventually(() => sentiment(`warm-${Date.now()}`), (r) => r.status === 200);
  assert.equal(warm.status, 200);

  await t.test("one request: one trace with each proxy's span in order, one x-request-id in every hop's access log", async () => {
    const id = "7f3c2a10-9e4b-4c8d-a1f2-0b1c2d3e4f50";
    const r = await sentiment(id);
    assert.equal(r.status, 200, await r.text());

    // Each hop's proxy logged this request: the gateway once, sa-webapp's sidecar inbound and outbound, a sa-logic sidecar inbound.
    const gateway = await eventually(() => proxyLines(demo, "istio-ingressgateway", id), (ls) => ls.length === 1, 50);
    const webapp = await eventually(() => proxyLines(demo, "sa-webapp", id), (ls) => ls.length === 2, 50);
    const logic = await eventually(() => proxyLines(demo, "sa-logic", id), (ls) => ls.length === 1, 50);
    assert.equal(gateway.length, 1);
    assert.equal(webapp.length, 2, JSON.stringify(webapp));
    assert.equal(logic.length, 1);
    assert.equal(gateway[0].upstreamCluster, "outbound|80||sa-webapp.demo.svc.cluster.local");
    assert.deepEqual(webapp.map((l) => l.upstreamCluster.split("|")[0]).sort(), ["inbound", "outbound"]);
    assert.ok(webapp.some((l) => l.upstreamCluster === "outbound|80||sa-logic.demo.svc.cluster.local"), JSON.stringify(webapp));
    assert.match(logic[0].upstreamCluster, /^inbound\|/);
    for (const l of [...gateway, ...webapp, ...logic]) assert.equal(l.responseCode, 200);

    // The trace: the gateway's span is the root; sa-webapp SERVER → sa-webapp CLIENT → sa-logic SERVER below it.
    const { trace, chain } = await traceOf(demo, id, 50);
    assert.ok(trace.every((s) => s.traceId === trace[0].traceId));
    assert.deepEqual(chain, ["istio-ingressgateway:CLIENT", "sa-webapp:SERVER", "sa-webapp:CLIENT", "sa-logic:SERVER"], JSON.stringify(trace, null, 1));
  });

  await t.test("the gateway's access log for a table of requests matches Envoy's TEXT format field by field", async () => {
    const closed = await kernelFreePort();
    const resources = join(demo.dir, "table.yaml");
    writeFileSync(
      resources,
      `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: sa-external-services, namespace: demo}
spec:
  hosts: ["*"]
  gateways: [http-gateway]
  http:
  - name: fault
    match: [{uri: {prefix: /obs/fault}}]
    fault: {abort: {httpStatus: 418, percentage: {value: 100}}}
    route: [{destination: {host: sa-logic, port: {number: 80}}}]
  - name: nohost
    match: [{uri: {prefix: /obs/nohost}}]
    route: [{destination: {host: sa-logic, subset: v9, port: {number: 80}}}]
  - name: refused
    match: [{uri: {prefix: /obs/refused}}]
    route: [{destination: {host: refused.obs.local, port: {number: 80}}}]
  - name: denied
    match: [{uri: {prefix: /obs/denied}}]
    route: [{destination: {host: sa-webapp, port: {number: 80}}}]
  - name: slow
    match: [{uri: {prefix: /obs/slow}}]
    rewrite: {uri: /sentiment}
    timeout: 0.5s
    route: [{destination: {host: sa-webapp, port: {number: 80}}}]
  - name: sentiment
    match: [{uri: {prefix: /sentiment}}]
    route: [{destination: {host: sa-webapp, port: {number: 80}}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: sa-logic, namespace: demo}
spec:
  host: sa-logic
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v9, labels: {version: v9}}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: refused, namespace: demo}
spec:
  hosts: [refused.obs.local]
  location: MESH_EXTERNAL
  resolution: STATIC
  ports: [{number: 80, name: http, protocol: HTTP}]
  endpoints: [{address: 127.0.0.1, ports: {http: ${closed}}}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
# In the root namespace: the gateway runs in istio-system, and root-namespace policies select across namespaces.
metadata: {name: obs-deny, namespace: istio-system}
spec:
  selector: {matchLabels: {istio: ingressgateway}}
  action: DENY
  rules: [{to: [{operation: {paths: ["/obs/denied"]}}]}]
`,
    );
    const r = await demo.skiff("apply", "-f", resources);
    assert.equal(r.code, 0, r.stderr);
    // Routes converge after apply: wait for the fault route to answer.
    const conv = await eventually(() => sentiment(`conv-${Date.now()}`, "/obs/fault"), (res) => res.status === 418);
    assert.equal(conv.status, 418);

    // Flags as Istio users see them: a refused connection is retried by Istio's default retry
    // policy (connect-failure), so the line says UF,URX (retries exhausted). Envoy's HTTP RBAC
    // filter sets no response flag: the "RBAC" of a 403 is in RESPONSE_CODE_DETAILS.
    const rows: { name: string; path: string; code: number; flags: string; details: RegExp; cluster: RegExp; route?: string }[] = [
      { name: "success", path: "/sentiment", code: 200, flags: "-", details: /^via_upstream$/, cluster: /^outbound\|80\|\|sa-webapp\.demo\.svc\.cluster\.local$/, route: "sentiment" },
      { name: "no route", path: "/no-such-route", code: 404, flags: "NR", details: /^route_not_found$/, cluster: /^-$/, route: "-" },
      { name: "no healthy upstream", path: "/obs/nohost", code: 503, flags: "UH", details: /^no_healthy_upstream$/, cluster: /^outbound\|80\|v9\|sa-logic\.demo\.svc\.cluster\.local$/ },
      { name: "connection failure", path: "/obs/refused", code: 503, flags: "UF,URX", details: /^upstream_reset_before_response_started\{.*\}$/, cluster: /^outbound\|80\|\|refused\.obs\.local$/, route: "refused" },
      { name: "RBAC", path: "/obs/denied", code: 403, flags: "-", details: /^rbac_access_denied_matched_policy\[ns\[istio-system\]-policy\[obs-deny\]-rule\[0\]\]$/, cluster: /^-$/ },
      { name: "fault abort", path: "/obs/fault", code: 418, flags: "FI", details: /^fault_filter_abort$/, cluster: /.*/ },
    ];
    const check = async (row: (typeof rows)[number]) => {
      const id = `table-${row.name.replace(/ /g, "-")}-${Date.now()}`;
      const res = await sentiment(id, row.path);
      const body = await res.arrayBuffer();
      assert.equal(res.status, row.code, row.name);
      const [line] = await eventually(() => proxyLines(demo, "istio-ingressgateway", id), (ls) => ls.length === 1, 50);
      assert.ok(line, `${row.name}: no gateway access-log line with x-request-id ${id}`);
      const where = `${row.name}: ${JSON.stringify(line)}`;
      assert.ok(!Number.isNaN(Date.parse(line.startTime)), where);
      assert.equal(line.method, "POST", where);
      assert.equal(line.path, row.path, where);
      assert.equal(line.protocol, "HTTP/1.1", where);
      assert.equal(line.responseCode, row.code, where);
      assert.equal(line.responseFlags, row.flags, where);
      assert.match(line.responseCodeDetails, row.details, where);
      assert.equal(line.bytesReceived, JSON.stringify({ sentence: "a good day" }).length, where);
      // Envoy counts body bytes only: what the client received (0 for NR's empty local reply).
      assert.equal(line.bytesSent, body.byteLength, where);
      assert.equal(line.userAgent, "skiff-e2e", where);
      assert.equal(line.requestId, id, where);
      assert.equal(line.authority, `127.0.0.1:${demo.port}`, where);
      assert.match(line.upstreamCluster, row.cluster, where);
      if (row.route) assert.equal(line.routeName, row.route, where);
      assert.match(line.downstreamLocalAddress, new RegExp(`:${demo.port}$`), where);
      assert.match(line.downstreamRemoteAddress, /^127\.0\.0\.1:\d+$/, where);
    };
    for (const row of rows) await check(row);

    // 504 UT: sa-logic's callers get a 3 s delay (a mesh VirtualService's fault, applied by
    // sa-webapp's sidecar), longer than the gateway route's 0.5 s timeout.
    const delay = join(demo.dir, "delay.yaml");
    writeFileSync(
      delay,
      `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: sa-logic-delay, namespace: demo}
spec:
  hosts: [sa-logic]
  http:
  - fault: {delay: {fixedDelay: 3s, percentage: {value: 100}}}
    route: [{destination: {host: sa-logic}}]
`,
    );
    const d = await demo.skiff("apply", "-f", delay);
    assert.equal(d.code, 0, d.stderr);
    await eventually(() => sentiment(`slow-${Date.now()}`, "/obs/slow"), (res) => res.status === 504, 30);
    await check({ name: "upstream timeout", path: "/obs/slow", code: 504, flags: "UT", details: /^upstream_response_timeout$/, cluster: /^outbound\|80\|\|sa-webapp\.demo\.svc\.cluster\.local$/ });
  });

  assert.equal(await demo.stop(), 0);
});
