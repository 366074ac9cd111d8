// Proxy identity from the xDS node, as Istio's bootstrap sends it.
import { test } from "node:test";
import assert from "node:assert/strict";
import { parseProxyNode, looksProxyless } from "../../../src/pilot/xds/index.ts";

test("Istio's sidecar node id and metadata become the proxy's identity", () => {
  const proxy = parseProxyNode({
    id: "sidecar~10.0.0.7~reviews-v1-abc.bookinfo~bookinfo.svc.cluster.local",
    metadata: {
      LABELS: { app: "reviews", version: "v1", bad: 3 },
      SERVICE_ACCOUNT: "bookinfo-reviews",
      WORKLOAD_NAME: "reviews-v1",
      INSTANCE_IPS: "10.0.0.7,fd00::7",
      ISTIO_VERSION: "1.24.0",
    },
  });
  assert.deepEqual(
    { ...proxy, metadata: undefined },
    {
      id: "sidecar~10.0.0.7~reviews-v1-abc.bookinfo~bookinfo.svc.cluster.local",
      type: "sidecar",
      ipAddresses: ["10.0.0.7", "fd00::7"],
      podName: "reviews-v1-abc.bookinfo",
      namespace: "bookinfo",
      labels: { app: "reviews", version: "v1" },
      serviceAccount: "bookinfo-reviews",
      workloadName: "reviews-v1",
      metadata: undefined,
    },
  );
  assert.equal(proxy.metadata.ISTIO_VERSION, "1.24.0");
});

test("router ids are gateways; defaults fill what metadata leaves out", () => {
  const gw = parseProxyNode({ id: "router~10.0.0.8~ingress-1.istio-system~istio-system.svc.cluster.local" });
  assert.equal(gw.type, "router");
  assert.equal(gw.namespace, "istio-system");
  assert.deepEqual(gw.ipAddresses, ["10.0.0.8"]);
  assert.equal(gw.serviceAccount, "default");
  assert.equal(gw.workloadName, "ingress-1");
});

test("gRPC clients are proxyless whatever their id; malformed Envoy ids are refused", () => {
  assert.ok(looksProxyless({ metadata: { GENERATOR: "grpc" } }));
  assert.ok(looksProxyless({ user_agent_name: "gRPC Node Pure JS" }));
  const client = parseProxyNode({ id: "my-client", metadata: { GENERATOR: "grpc", NAMESPACE: "demo" } });
  assert.equal(client.type, "proxyless");
  assert.equal(client.namespace, "demo");
  assert.throws(() => parseProxyNode({ id: "my-envoy" }), /node id "my-envoy" is not in Istio's form TYPE~IP~NAME\.NAMESPACE~NAMESPACE\.svc\.cluster\.local/);
  assert.throws(() => parseProxyNode({ id: "gateway~1.2.3.4~a.b~b.svc.cluster.local" }), /not in Istio's form/);
  assert.throws(() => parseProxyNode(undefined), /carries no node id/);
});
