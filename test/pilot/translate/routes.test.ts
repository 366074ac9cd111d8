// Unit tests of the route building blocks: durations, percentages, retry policies,
// match applicability and match translation.
import { test } from "node:test";
import assert from "node:assert/strict";
import { percentToFractional, toEnvoyDuration } from "../../../src/pilot/translate/envoy-json.ts";
import { defaultRetryPolicy, translateHttpRoutes, translateRetryPolicy, translateFault } from "../../../src/pilot/translate/routes.ts";
import { matchApplies, qualifyGateway, translateRouteMatch } from "../../../src/pilot/translate/route-match.ts";
import { delegatedMatches, mergeMatch } from "../../../src/pilot/translate/delegate.ts";

test("Istio durations become proto3 JSON durations", () => {
  assert.equal(toEnvoyDuration("5s"), "5s");
  assert.equal(toEnvoyDuration("1.5s"), "1.500s");
  assert.equal(toEnvoyDuration("100ms"), "0.100s");
  assert.equal(toEnvoyDuration("1m30s"), "90s");
  assert.equal(toEnvoyDuration("1h"), "3600s");
  assert.equal(toEnvoyDuration("250us"), "0.000250s");
  assert.equal(toEnvoyDuration("0"), "0s");
  assert.equal(toEnvoyDuration("soon"), undefined);
  assert.equal(toEnvoyDuration("5"), undefined);
});

test("percentages keep fractions by counting per million", () => {
  assert.deepEqual(percentToFractional(0.1), { numerator: 1000, denominator: "MILLION" });
  assert.deepEqual(percentToFractional(100), { numerator: 1_000_000, denominator: "MILLION" });
  assert.deepEqual(percentToFractional(150), { numerator: 1_000_000, denominator: "MILLION" });
});

test("no retries field gives Istio's default policy; attempts 0 disables retries", () => {
  assert.deepEqual(translateRetryPolicy(undefined), defaultRetryPolicy());
  assert.equal(translateRetryPolicy({ attempts: 0 }), undefined);
  const policy = translateRetryPolicy({ attempts: 4, retryOn: "5xx,503,429", retryIgnorePreviousHosts: false, backoff: "25ms" });
  assert.equal(policy?.num_retries, 4);
  assert.equal(policy?.retry_on, "5xx,retriable-status-codes");
  assert.deepEqual(policy?.retriable_status_codes, [503, 429]);
  assert.equal(policy?.retry_host_predicate, undefined);
  assert.deepEqual(policy?.retry_back_off, { base_interval: "0.025s" });
});

test("fault with an unsupported kind is reported, not silently emitted", () => {
  const reported: string[] = [];
  const fault = translateFault({ delay: { exponentialDelay: "1s" } }, (m) => reported.push(m));
  assert.equal(fault, undefined);
  assert.match(reported[0], /exponentialDelay/);
});

test("matches apply only to the right port, source labels, namespace and gateway", () => {
  const scope = { port: 9080, proxyLabels: { app: "a", version: "v1" }, proxyNamespace: "ns", gateways: ["mesh"] };
  assert.ok(matchApplies({}, scope, "ns"));
  assert.ok(matchApplies({ port: 9080, sourceLabels: { app: "a" } }, scope, "ns"));
  assert.ok(!matchApplies({ port: 80 }, scope, "ns"));
  assert.ok(!matchApplies({ sourceLabels: { app: "b" } }, scope, "ns"));
  assert.ok(!matchApplies({ sourceNamespace: "other" }, scope, "ns"));
  assert.ok(!matchApplies({ gateways: ["gw"] }, scope, "ns"));
  assert.ok(matchApplies({ gateways: ["gw"] }, { ...scope, gateways: ["ns/gw"] }, "ns"));
});

test("gateway references are qualified in the VirtualService's namespace", () => {
  assert.equal(qualifyGateway("gw", "ns"), "ns/gw");
  assert.equal(qualifyGateway("other/gw", "ns"), "other/gw");
  assert.equal(qualifyGateway("gw.other", "ns"), "other/gw");
  assert.equal(qualifyGateway("mesh", "ns"), "mesh");
});

test("an empty match is a catch-all prefix; header names are lower-cased and sorted", () => {
  assert.deepEqual(translateRouteMatch(undefined), { prefix: "/" });
  const match = translateRouteMatch({ headers: { "X-B": { exact: "1" }, "x-a": {} }, uri: { prefix: "/p" } });
  assert.deepEqual(match, {
    prefix: "/p",
    headers: [
      { name: "x-a", present_match: true },
      { name: "x-b", string_match: { exact: "1" } },
    ],
  });
});

test("a bad duration is reported against its VirtualService and field, and the route still translates", () => {
  const problems: { resource: string; message: string }[] = [];
  const vs = {
    apiVersion: "networking.istio.io/v1",
    kind: "VirtualService" as const,
    metadata: { name: "r", namespace: "ns" },
    spec: { hosts: ["r"], http: [{ timeout: "soon", route: [{ destination: { host: "r" } }] }] },
  };
  const routes = translateHttpRoutes(vs, {
    port: 80,
    gateways: ["mesh"],
    proxyLabels: {},
    proxyNamespace: "ns",
    resolveHost: (h, ns) => `${h}.${ns}.svc.cluster.local`,
    findService: () => undefined,
    hashPolicy: () => undefined,
    problem: (resource, message) => problems.push({ resource, message }),
  });
  assert.equal(routes.length, 1);
  assert.equal((routes[0].route as { timeout: string }).timeout, "0s");
  assert.ok(problems.some((p) => p.resource === "VirtualService/ns/r" && p.message.startsWith("spec.http[0].timeout:")));
});

test("delegate matches merge with the root's, and conflicting pairs are dropped", () => {
  assert.deepEqual(mergeMatch({ uri: { prefix: "/api" } }, { uri: { exact: "/api/x" }, method: { exact: "GET" } }), {
    uri: { exact: "/api/x" },
    method: { exact: "GET" },
  });
  assert.equal(mergeMatch({ uri: { prefix: "/api" } }, { uri: { prefix: "/web" } }), null);
  assert.equal(mergeMatch({ headers: { a: { exact: "1" } } }, { headers: { a: { exact: "2" } } }), null);
  assert.equal(mergeMatch({ port: 80 }, { port: 81 }), null);
  assert.deepEqual(delegatedMatches(undefined, undefined), [undefined]);
  assert.deepEqual(delegatedMatches([{ uri: { prefix: "/a" } }], undefined), [{ uri: { prefix: "/a" } }]);
  assert.deepEqual(delegatedMatches([{ uri: { prefix: "/a" } }], [{ uri: { prefix: "/b" } }]), []);
});

test("several destinations without weights are split evenly, and the omission is reported", () => {
  const problems: string[] = [];
  const vs = {
    apiVersion: "networking.istio.io/v1",
    kind: "VirtualService" as const,
    metadata: { name: "r", namespace: "ns" },
    spec: { hosts: ["r"], http: [{ route: [{ destination: { host: "a" } }, { destination: { host: "b" } }] }] },
  };
  const [route] = translateHttpRoutes(vs, {
    port: 80,
    gateways: ["mesh"],
    proxyLabels: {},
    proxyNamespace: "ns",
    resolveHost: (h, ns) => `${h}.${ns}.svc.cluster.local`,
    findService: () => undefined,
    hashPolicy: () => undefined,
    problem: (_resource, message) => problems.push(message),
  });
  const clusters = (route.route as { weighted_clusters: { clusters: { name: string; weight: number }[] } }).weighted_clusters.clusters;
  assert.deepEqual(clusters.map((c) => c.weight), [1, 1]);
  assert.ok(problems.some((m) => m.includes("no weights")));
});
