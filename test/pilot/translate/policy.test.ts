// Which DestinationRule policy applies to a port and subset, and the route hash
// policies the route builder asks for.
import { test } from "node:test";
import assert from "node:assert/strict";
import { buildPushContext, proxyView } from "../../../src/pilot/translate/context.ts";
import type { EffectiveDestinationRule } from "../../../src/pilot/translate/context.ts";
import { effectivePolicy, hashPolicyFor } from "../../../src/pilot/translate/policy.ts";
import { http, kubeService, res, sidecarProxy, snapshot } from "./cluster-fixtures.ts";

const rule: EffectiveDestinationRule = {
  host: "reviews.default.svc.cluster.local",
  namespace: "default",
  sources: ["DestinationRule/default/reviews"],
  trafficPolicy: {
    loadBalancer: { simple: "RANDOM" },
    connectionPool: { tcp: { maxConnections: 5 } },
    portLevelSettings: [{ port: { number: 8080 }, outlierDetection: { consecutive5xxErrors: 1 } }],
  },
  subsets: [
    { name: "plain", labels: { v: "1" } },
    {
      name: "tuned",
      labels: { v: "2" },
      trafficPolicy: {
        loadBalancer: { simple: "ROUND_ROBIN" },
        portLevelSettings: [{ port: { number: 9090 }, tls: { mode: "SIMPLE" } }],
      },
    },
  ],
};

test("port-level settings replace the top-level components for that port only", () => {
  assert.deepEqual(effectivePolicy(rule, undefined, 9080)?.loadBalancer, { simple: "RANDOM" });
  const port8080 = effectivePolicy(rule, undefined, 8080);
  assert.equal(port8080?.loadBalancer, undefined, "port-level settings do not inherit");
  assert.equal(port8080?.connectionPool, undefined);
  assert.deepEqual(port8080?.outlierDetection, { consecutive5xxErrors: 1 });
});

test("a subset overrides only what it sets; its port-level settings replace everything for that port", () => {
  assert.deepEqual(effectivePolicy(rule, "plain", 9080), effectivePolicy(rule, undefined, 9080));
  const tuned = effectivePolicy(rule, "tuned", 9080);
  assert.deepEqual(tuned?.loadBalancer, { simple: "ROUND_ROBIN" });
  assert.deepEqual(tuned?.connectionPool, { tcp: { maxConnections: 5 } });
  const tunedPort = effectivePolicy(rule, "tuned", 9090);
  assert.deepEqual(tunedPort?.tls, { mode: "SIMPLE" });
  assert.equal(tunedPort?.loadBalancer, undefined);
});

test("hash policies for the route follow the consistentHash kind", () => {
  const reviews = kubeService("reviews", "default", [http(9080)]);
  const hashOf = (consistentHash: unknown, subsets: unknown[] = []) => {
    const dr = res("DestinationRule", "default", "r", { host: "reviews", trafficPolicy: { loadBalancer: { consistentHash } }, subsets });
    const view = proxyView(buildPushContext(snapshot([reviews], [], [dr])), sidecarProxy("default"));
    return (subset?: string) => hashPolicyFor(view, reviews.hostname, subset, 9080);
  };
  assert.deepEqual(hashOf({ httpHeaderName: "x-user" })(), [{ header: { header_name: "x-user" } }]);
  assert.deepEqual(hashOf({ httpCookie: { name: "s", path: "/", ttl: "1m" } })(), [{ cookie: { name: "s", path: "/", ttl: "60s" } }]);
  assert.deepEqual(hashOf({ useSourceIp: true })(), [{ connection_properties: { source_ip: true } }]);
  assert.deepEqual(hashOf({ httpQueryParameterName: "u" })(), [{ query_parameter: { name: "u" } }]);
  const withSubset = hashOf({ useSourceIp: true }, [{ name: "rr", trafficPolicy: { loadBalancer: { simple: "ROUND_ROBIN" } } }]);
  assert.deepEqual(withSubset("rr"), [], "a subset with its own load balancer does not hash");
});
