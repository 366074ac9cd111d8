// Proxy scopes: which sidecars may share their outbound side. The key must separate
// every pair of proxies that outbound translation treats differently, and only those.
import { test } from "node:test";
import assert from "node:assert/strict";
import { buildPushContext, mergeScoped, proxyScopeKey, translate, translateOwn, translateScoped } from "../../../src/pilot/translate/index.ts";
import { endpoint, http, kubeService, res, sidecarProxy, snapshot } from "./cluster-fixtures.ts";

const reviews = kubeService("reviews", "default", [http(9080)]);
const ratings = kubeService("ratings", "default", [http(9080)]);

const config = [
  res("DestinationRule", "default", "for-canary", { host: "ratings", workloadSelector: { matchLabels: { track: "canary" } }, trafficPolicy: { loadBalancer: { simple: "RANDOM" } } }),
  res("VirtualService", "default", "reviews", {
    hosts: ["reviews"],
    http: [{ match: [{ sourceLabels: { app: "tester" } }], route: [{ destination: { host: "ratings" } }] }, { route: [{ destination: { host: "reviews" } }] }],
  }),
];
const snap = snapshot([reviews, ratings], [endpoint(reviews, 9080, "10.0.0.1"), endpoint(ratings, 9080, "10.0.0.2")], config);
const ctx = buildPushContext(snap);

test("labels that no selector tells apart share a scope; a matched workloadSelector or sourceLabels, another namespace, or a proxy without TLS do not", () => {
  const key = (p: ReturnType<typeof sidecarProxy>) => proxyScopeKey(ctx, p);
  const plainA = sidecarProxy("default", { app: "reviews", version: "v1" }, "10.0.0.1");
  const plainB = sidecarProxy("default", { app: "ratings" }, "10.0.0.2");
  assert.equal(key(plainA), key(plainB));
  assert.notEqual(key(sidecarProxy("default", { app: "x", track: "canary" })), key(plainA), "the workloadSelector picks it");
  assert.notEqual(key(sidecarProxy("default", { app: "tester" })), key(plainA), "sourceLabels match it");
  assert.notEqual(key(sidecarProxy("other", { app: "reviews" })), key(plainA), "another namespace");
  const noTls = (pod: string) => ({ ...sidecarProxy("default", { app: "reviews" }), podName: pod, metadata: { SKIFF_TLS: "false" } });
  assert.notEqual(key(noTls("a.default")), key(noTls("b.default")), "problems name a proxy without TLS");
  assert.equal(key({ ...plainA, type: "router" }), undefined, "gateways are translated whole");
});

test("what two proxies of one scope get from the shared part is what each one's own translation would give", () => {
  const a = sidecarProxy("default", { app: "reviews", version: "v1" }, "10.0.0.1");
  const b = sidecarProxy("default", { app: "ratings" }, "10.0.0.2");
  const tester = sidecarProxy("default", { app: "tester" }, "10.0.0.3");
  const shared = translateScoped(ctx, a);
  for (const p of [a, b]) assert.deepEqual(mergeScoped(shared, translateOwn(ctx, p, shared)), translate(snap, p));
  // The sourceLabels route is in the tester's routes only: sharing across that line would be wrong.
  const routesOf = (p: ReturnType<typeof sidecarProxy>) => JSON.stringify(translate(snap, p).resources.routes);
  assert.notEqual(routesOf(tester), routesOf(a));
  assert.equal(routesOf(b), routesOf(a));
});
