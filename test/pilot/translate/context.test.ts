// The push context and proxy view: host resolution, visibility (exportTo, Sidecar
// egress), Sidecar selection, DestinationRule precedence, VirtualService winners.
import { test } from "node:test";
import assert from "node:assert/strict";
import { buildPushContext, clusterName, proxyView } from "../../../src/pilot/translate/context.ts";
import { hostCovers, resolveHost, serviceDomains } from "../../../src/pilot/translate/hosts.ts";
import { http, kubeService, res, sidecarProxy, snapshot } from "./cluster-fixtures.ts";

const reviews = kubeService("reviews", "default", [http(9080)]);
const ratings = kubeService("ratings", "other", [http(9080)]);
const secret = kubeService("secret", "hidden", [http(80)], { exportTo: ["hidden"] });

test("short, name.namespace and FQDN hosts resolve as a user expects", () => {
  const known = (h: string) => h === "reviews.x.svc.cluster.local";
  assert.equal(resolveHost("reviews", "x", "cluster.local"), "reviews.x.svc.cluster.local");
  assert.equal(resolveHost("reviews.x", "y", "cluster.local", known), "reviews.x.svc.cluster.local");
  assert.equal(resolveHost("example.com", "y", "cluster.local", known), "example.com");
  assert.equal(resolveHost("*.x.com", "y", "cluster.local"), "*.x.com");
  assert.equal(clusterName("outbound", 9080, "v1", "reviews.default.svc.cluster.local"), "outbound|9080|v1|reviews.default.svc.cluster.local");
  assert.equal(clusterName("inbound", 8080), "inbound|8080||");
});

test("wildcards cover subdomains but not the bare domain", () => {
  assert.ok(hostCovers("*.x.com", "a.x.com"));
  assert.ok(hostCovers("*.x.com", "*.a.x.com"));
  assert.ok(!hostCovers("*.x.com", "x.com"));
  assert.ok(!hostCovers("*.a.x.com", "*.x.com"));
  assert.ok(hostCovers("*", "anything.org"));
});

test("service domains include the short name only for proxies of the same namespace", () => {
  const same = serviceDomains(reviews, 9080, "default", "cluster.local");
  assert.ok(same.includes("reviews") && same.includes("reviews:9080") && same.includes("reviews.default"));
  const other = serviceDomains(reviews, 9080, "x", "cluster.local");
  assert.ok(!other.includes("reviews") && other.includes("reviews.default.svc:9080"));
});

test("exportTo hides a service from other namespaces", () => {
  const ctx = buildPushContext(snapshot([reviews, ratings, secret]));
  const hosts = (ns: string) => proxyView(ctx, sidecarProxy(ns)).services.map((s) => s.name);
  assert.deepEqual(hosts("default"), ["ratings", "reviews"]);
  assert.deepEqual(hosts("hidden"), ["ratings", "reviews", "secret"]);
});

test("a Sidecar selecting the workload beats the namespace default, which beats the root default", () => {
  const config = [
    res("Sidecar", "istio-system", "root", { egress: [{ hosts: ["*/*"] }] }),
    res("Sidecar", "default", "ns-default", { egress: [{ hosts: ["./*"] }] }),
    res("Sidecar", "default", "for-app", { workloadSelector: { labels: { app: "a" } }, egress: [{ hosts: ["other/ratings.other.svc.cluster.local"] }], outboundTrafficPolicy: { mode: "REGISTRY_ONLY" } }),
  ];
  const ctx = buildPushContext(snapshot([reviews, ratings], [], config));
  const app = proxyView(ctx, sidecarProxy("default", { app: "a" }));
  assert.equal(app.sidecar?.metadata.name, "for-app");
  assert.deepEqual(app.services.map((s) => s.name), ["ratings"]);
  assert.equal(app.outboundTrafficPolicy, "REGISTRY_ONLY");
  const plain = proxyView(ctx, sidecarProxy("default", { app: "b" }));
  assert.deepEqual(plain.services.map((s) => s.name), ["reviews"]);
  assert.equal(plain.outboundTrafficPolicy, "ALLOW_ANY");
  const elsewhere = proxyView(ctx, sidecarProxy("third"));
  assert.equal(elsewhere.sidecar?.metadata.name, "root");
  assert.deepEqual(elsewhere.services.map((s) => s.name), ["ratings", "reviews"]);
});

test("DestinationRule precedence: proxy namespace, then service namespace, then root", () => {
  const config = [
    res("DestinationRule", "istio-system", "root", { host: "*.svc.cluster.local", subsets: [{ name: "root" }] }),
    res("DestinationRule", "default", "svc-ns", { host: "reviews", subsets: [{ name: "svc" }] }),
    res("DestinationRule", "client", "local", { host: "reviews.default.svc.cluster.local", subsets: [{ name: "local" }] }),
    res("DestinationRule", "default", "private", { host: "reviews", exportTo: ["."], subsets: [{ name: "private" }] }),
  ];
  const ctx = buildPushContext(snapshot([reviews, ratings], [], config));
  const sub = (ns: string, host: string) => proxyView(ctx, sidecarProxy(ns)).destinationRule(host)?.subsets.map((s) => s.name);
  assert.deepEqual(sub("client", reviews.hostname), ["local"]);
  assert.deepEqual(sub("third", reviews.hostname), ["svc"]);
  // In its own namespace both rules for the host merge, oldest (then name) first.
  assert.deepEqual(sub("default", reviews.hostname), ["private", "svc"]);
  assert.deepEqual(sub("third", ratings.hostname), ["root"]);
});

test("a DestinationRule with a matching workloadSelector beats one without", () => {
  const config = [
    res("DestinationRule", "default", "all", { host: "reviews", subsets: [{ name: "all" }] }),
    res("DestinationRule", "default", "mine", { host: "reviews", workloadSelector: { matchLabels: { app: "a" } }, subsets: [{ name: "mine" }] }),
  ];
  const ctx = buildPushContext(snapshot([reviews], [], config));
  assert.deepEqual(proxyView(ctx, sidecarProxy("default", { app: "a" })).destinationRule(reviews.hostname)?.subsets.map((s) => s.name), ["mine"]);
  assert.deepEqual(proxyView(ctx, sidecarProxy("default", { app: "b" })).destinationRule(reviews.hostname)?.subsets.map((s) => s.name), ["all"]);
});

test("the oldest mesh VirtualService wins a host and the loser is reported", () => {
  const config = [
    res("VirtualService", "default", "new", { hosts: ["reviews"], http: [] }, "2024-02-01T00:00:00Z"),
    res("VirtualService", "default", "old", { hosts: ["reviews"], http: [] }, "2024-01-01T00:00:00Z"),
    res("VirtualService", "default", "gw", { hosts: ["reviews"], gateways: ["my-gw"], http: [] }),
  ];
  const ctx = buildPushContext(snapshot([reviews], [], config));
  const view = proxyView(ctx, sidecarProxy("default"));
  assert.equal(view.virtualServiceFor(reviews.hostname)?.resource.metadata.name, "old");
  assert.equal(view.problems.length, 1);
  assert.match(view.problems[0].resource, /VirtualService\/default\/new/);
  assert.deepEqual(view.virtualServicesForGateway("default/my-gw").map((v) => v.resource.metadata.name), ["gw"]);
});
