// EDS assignments as a proxy sees them: what it may not see stays empty, names that
// are not outbound service clusters are ignored, output is sorted and deduplicated.
import { test } from "node:test";
import assert from "node:assert/strict";
import { buildPushContext, proxyView } from "../../../src/pilot/translate/context.ts";
import { buildEndpoints } from "../../../src/pilot/translate/endpoints.ts";
import { validateMessage } from "../../../src/envoy/index.ts";
import { endpoint, http, kubeService, res, sidecarProxy, snapshot } from "./cluster-fixtures.ts";

const reviews = kubeService("reviews", "default", [http(9080)]);
const secret = kubeService("secret", "vault", [http(80)], { exportTo: ["vault"] });
const eps = [
  endpoint(reviews, 9080, "10.0.1.2", { labels: { version: "v2" }, weight: 4 }),
  endpoint(reviews, 9080, "10.0.1.1", { labels: { version: "v1" } }),
  endpoint(secret, 80, "10.0.9.1"),
];
const dr = res("DestinationRule", "default", "r", { host: "reviews", subsets: [{ name: "v2", labels: { version: "v2" } }] });
const view = proxyView(buildPushContext(snapshot([reviews, secret], eps, [dr])), sidecarProxy("default"));

test("a hidden service's endpoints are not revealed; non-service names are skipped", () => {
  const out = buildEndpoints(view, ["outbound|80||secret.vault.svc.cluster.local", "BlackHoleCluster", "inbound|80||"]);
  assert.deepEqual(out, [{ cluster_name: "outbound|80||secret.vault.svc.cluster.local", endpoints: [] }]);
});

test("a subset gets only its endpoints, with their weight; an unknown subset gets none", () => {
  const out = buildEndpoints(view, [
    "outbound|9080|v9|reviews.default.svc.cluster.local",
    "outbound|9080|v2|reviews.default.svc.cluster.local",
    "outbound|9080|v2|reviews.default.svc.cluster.local",
  ]);
  assert.deepEqual(out.map((c) => c.cluster_name), ["outbound|9080|v2|reviews.default.svc.cluster.local", "outbound|9080|v9|reviews.default.svc.cluster.local"]);
  const text = JSON.stringify(out[0]);
  assert.match(text, /10\.0\.1\.2/);
  assert.doesNotMatch(text, /10\.0\.1\.1/);
  assert.match(text, /"load_balancing_weight":4/);
  assert.deepEqual(out[1].endpoints, []);
  for (const cla of out) validateMessage("envoy.config.endpoint.v3.ClusterLoadAssignment", cla);
});
