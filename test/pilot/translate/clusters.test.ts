// Cluster building rules the golden cases do not pin: proxyless clients, problems a
// user must see, TLS corner cases, inbound metadata forms, Sidecar ingress ports.
import { test } from "node:test";
import assert from "node:assert/strict";
import { buildPushContext, proxyView } from "../../../src/pilot/translate/context.ts";
import { buildClusters, buildInboundClusters, buildOutboundClusters } from "../../../src/pilot/translate/clusters.ts";
import { validateMessage } from "../../../src/envoy/index.ts";
import { INBOUND_PASSTHROUGH_SOURCE } from "../../../src/agent/capture.ts";
import type { AnyResource } from "../../../src/api/types.ts";
import type { EnvoyJson, ProxyNode } from "../../../src/pilot/translate/types.ts";
import { endpoint, http, kubeService, res, sidecarProxy, snapshot } from "./cluster-fixtures.ts";

const reviews = kubeService("reviews", "default", [http(9080), { name: "grpc", port: 9090, protocol: "GRPC" }]);

function dr(trafficPolicy: unknown, extra: Record<string, unknown> = {}): AnyResource {
  return res("DestinationRule", "default", "reviews", { host: "reviews", trafficPolicy, ...extra });
}

function viewOf(config: AnyResource[], proxy: ProxyNode = sidecarProxy("default"), services = [reviews], eps = [endpoint(reviews, 9080, "10.0.1.1")]) {
  return proxyView(buildPushContext(snapshot(services, eps, config)), proxy);
}

function cluster(clusters: EnvoyJson[], name: string): EnvoyJson {
  const found = clusters.find((c) => c.name === name);
  assert.ok(found, `cluster ${name} exists among ${clusters.map((c) => c.name).join(", ")}`);
  return found;
}

const main = "outbound|9080||reviews.default.svc.cluster.local";

test("every cluster is valid Envoy JSON", () => {
  const view = viewOf([dr({ loadBalancer: { simple: "ROUND_ROBIN" }, tls: { mode: "SIMPLE" } }, { subsets: [{ name: "v1", labels: { v: "1" } }] })]);
  for (const c of buildClusters(view)) validateMessage("envoy.config.cluster.v3.Cluster", c);
});

test("proxyless gRPC clients get only EDS clusters with policies gRPC understands", () => {
  const proxyless: ProxyNode = { ...sidecarProxy("default"), type: "proxyless" };
  const dns = kubeService("ext", "default", [http(80)], { resolution: "DNSLB", hostname: "ext.example.com" });
  const view = viewOf([dr({ loadBalancer: { simple: "LEAST_REQUEST" } })], proxyless, [reviews, dns]);
  const clusters = buildClusters(view);
  assert.deepEqual(clusters.map((c) => c.name), [main, "outbound|9090||reviews.default.svc.cluster.local"]);
  assert.equal(cluster(clusters, main).lb_policy, "ROUND_ROBIN");
  assert.match(view.problems[0].message, /LEAST_REQUEST is not supported by proxyless gRPC/);

  const hashed = viewOf([dr({ loadBalancer: { consistentHash: { httpHeaderName: "x" } } })], proxyless);
  assert.equal(cluster(buildOutboundClusters(hashed), main).lb_policy, "RING_HASH");
});

test("a duration that cannot be translated is reported against the DestinationRule", () => {
  const view = viewOf([dr({ connectionPool: { tcp: { connectTimeout: "soon" } } })]);
  const c = cluster(buildOutboundClusters(view), main);
  assert.equal(c.connect_timeout, "10s", "the default stays in force");
  assert.equal(view.problems[0].resource, "DestinationRule/default/reviews");
  assert.match(view.problems[0].message, /connectTimeout: "soon" is not a duration/);
});

test("MUTUAL TLS without a client certificate is reported and sends plaintext rather than a broken context", () => {
  const view = viewOf([dr({ tls: { mode: "MUTUAL", caCertificates: "/ca.pem" } })]);
  assert.equal(cluster(buildOutboundClusters(view), main).transport_socket, undefined);
  assert.match(view.problems[0].message, /MUTUAL needs clientCertificate and privateKey/);
});

test("ISTIO_MUTUAL emits nothing yet (the security work adds it) and reports nothing", () => {
  const view = viewOf([dr({ tls: { mode: "ISTIO_MUTUAL" } })]);
  assert.equal(cluster(buildOutboundClusters(view), main).transport_socket, undefined);
  assert.deepEqual(view.problems, []);
});

test("TLS to an HTTP/2 port negotiates h2 by ALPN; insecureSkipVerify drops validation; SIMPLE without CA trusts the system bundle", () => {
  const view = viewOf([dr({ tls: { mode: "SIMPLE" }, portLevelSettings: [{ port: { number: 9090 }, tls: { mode: "SIMPLE", insecureSkipVerify: true } }] })]);
  const clusters = buildOutboundClusters(view);
  const grpc = cluster(clusters, "outbound|9090||reviews.default.svc.cluster.local");
  const grpcTls = (grpc.transport_socket as EnvoyJson).typed_config as EnvoyJson;
  assert.deepEqual(grpcTls.common_tls_context, { alpn_protocols: ["h2"] });
  const httpTls = (cluster(clusters, main).transport_socket as EnvoyJson).typed_config as EnvoyJson;
  assert.deepEqual(httpTls.common_tls_context, { validation_context: { trusted_ca: { filename: "/etc/ssl/certs/ca-certificates.crt" } } });
});

test("useClientProtocol keeps the downstream HTTP version instead of forcing HTTP/2", () => {
  const view = viewOf([dr({ connectionPool: { http: { useClientProtocol: true } } })]);
  const grpc = cluster(buildOutboundClusters(view), "outbound|9090||reviews.default.svc.cluster.local");
  const options = (grpc.typed_extension_protocol_options as Record<string, EnvoyJson>)["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"];
  assert.equal(options.explicit_http_config, undefined);
  assert.deepEqual(options.use_downstream_protocol_config, { http_protocol_options: {}, http2_protocol_options: {} });
});

test("the deprecated consecutiveErrors still ejects on 5xx", () => {
  const view = viewOf([dr({ outlierDetection: { consecutiveErrors: 4 } })]);
  const od = cluster(buildOutboundClusters(view), main).outlier_detection as EnvoyJson;
  assert.equal(od.consecutive_5xx, 4);
  assert.equal(od.enforcing_consecutive_5xx, 100);
});

test("DNS_ROUND_ROBIN with several endpoints uses the first and says so", () => {
  const db = kubeService("db", "default", [{ name: "tcp", port: 5432, protocol: "TCP" }], { hostname: "db.example.com", resolution: "DNSRoundRobinLB", origin: "ServiceEntry/default/db" });
  const view = viewOf([], sidecarProxy("default"), [db], [endpoint(db, 5432, "a.db.example.com"), endpoint(db, 5432, "b.db.example.com")]);
  const c = cluster(buildOutboundClusters(view), "outbound|5432||db.example.com");
  assert.equal(c.type, "LOGICAL_DNS");
  const las = (c.load_assignment as EnvoyJson).endpoints as EnvoyJson[];
  assert.equal((las[0].lb_endpoints as EnvoyJson[]).length, 1);
  assert.equal(view.problems[0].resource, "ServiceEntry/default/db");
});

test("APP_PORTS may be an object; a Sidecar's ingress listeners replace the registry's ports", () => {
  const me = { ...sidecarProxy("default", { app: "reviews" }, "10.0.1.1"), metadata: { APP_PORTS: { "9080": 19080 } } };
  const view = viewOf([], me);
  const inbound = buildInboundClusters(view);
  assert.deepEqual(inbound.map((c) => c.name), ["inbound|9080||"]);
  const address = JSON.stringify(inbound[0].load_assignment);
  assert.match(address, /"address":"127\.0\.0\.1","port_value":19080/);

  const sidecar = res("Sidecar", "default", "default", { ingress: [{ port: { number: 7000, protocol: "GRPC", name: "grpc" }, defaultEndpoint: "127.0.0.1:7000" }] });
  const withIngress = buildInboundClusters(viewOf([sidecar], me));
  assert.deepEqual(withIngress.map((c) => c.name), ["inbound|7000||"]);
  assert.ok(withIngress[0].typed_extension_protocol_options, "a gRPC ingress port speaks HTTP/2 to the app");
});

test("a workload that is not behind any service has no inbound clusters", () => {
  assert.deepEqual(buildInboundClusters(viewOf([], sidecarProxy("default", { app: "client" }, "10.9.9.9"))), []);
});

test("replicas sharing an address and labels each get only their own inbound port", () => {
  const eps = [
    endpoint(reviews, 9080, "127.0.0.1", { port: 20001, workloadName: "reviews-0", labels: { app: "reviews" } }),
    endpoint(reviews, 9080, "127.0.0.1", { port: 20002, workloadName: "reviews-1", labels: { app: "reviews" } }),
  ];
  const replica = (name: string): ProxyNode => ({ ...sidecarProxy("default", { app: "reviews" }, "127.0.0.1"), workloadName: name, podName: `${name}.default` });
  const names = (name: string) => buildInboundClusters(viewOf([], replica(name), [reviews], eps)).map((c) => c.name);
  assert.deepEqual(names("reviews-0"), ["inbound|20001||"]);
  assert.deepEqual(names("reviews-1"), ["inbound|20002||"]);
  assert.deepEqual(names("someone-else"), ["inbound|20001||", "inbound|20002||"], "without a name match, every shared endpoint is kept");
});

test("without capture, an app port equal to the sidecar's own port is reported (it would loop)", () => {
  const me = { ...sidecarProxy("default", { app: "reviews" }, "127.0.0.1"), metadata: { INTERCEPTION_MODE: "NONE" } };
  const eps = [endpoint(reviews, 9080, "127.0.0.1")];
  const looping = viewOf([], me, [reviews], eps);
  buildInboundClusters(looping);
  assert.match(looping.problems[0]?.message ?? "", /set node metadata APP_PORTS/);
  const mapped = viewOf([], { ...me, metadata: { INTERCEPTION_MODE: "NONE", APP_PORTS: "9080:19080" } }, [reviews], eps);
  buildInboundClusters(mapped);
  assert.deepEqual(mapped.problems, []);
});

test("under capture the inbound passthrough leaves from the address the capture rules let through; without capture it is not bound", () => {
  const passthrough = (proxy: ProxyNode) => cluster(buildClusters(viewOf([], proxy)), "InboundPassthroughCluster");
  const captured = passthrough(sidecarProxy("default"));
  // The capture rules exempt this source on lo; any other source would be captured again (a loop).
  assert.deepEqual(captured.upstream_bind_config, { source_address: { address: INBOUND_PASSTHROUGH_SOURCE.replace(/\/32$/, ""), port_value: 0 } });
  validateMessage("envoy.config.cluster.v3.Cluster", captured);
  const bound = buildClusters(viewOf([], sidecarProxy("default"))).filter((c) => c.upstream_bind_config !== undefined).map((c) => c.name);
  assert.deepEqual(bound, ["InboundPassthroughCluster"], "only the inbound passthrough is bound");
  assert.equal(passthrough({ ...sidecarProxy("default"), metadata: { INTERCEPTION_MODE: "NONE" } }).upstream_bind_config, undefined);
});

test("decorators see each outbound cluster with its merged policy and TLS mode, and each inbound cluster", () => {
  const seen: string[] = [];
  const view = viewOf([dr({ tls: { mode: "ISTIO_MUTUAL" } }, { subsets: [{ name: "v1", labels: { v: "1" }, trafficPolicy: { tls: { mode: "DISABLE" } } }] })], sidecarProxy("default", {}, "10.0.1.1"));
  const clusters = buildClusters(view, {
    decorateOutbound: (c, info) => {
      seen.push(`${info.port.port}|${info.subset}|${info.tlsMode}`);
      if (info.tlsMode === "ISTIO_MUTUAL") c.transport_socket = { name: "envoy.transport_sockets.tls" };
    },
    decorateInbound: (c, port) => seen.push(`inbound ${port} ${String(c.name)}`),
  });
  assert.deepEqual(seen.sort(), ["9080|v1|DISABLE", "9080||ISTIO_MUTUAL", "9090|v1|DISABLE", "9090||ISTIO_MUTUAL", "inbound 9080 inbound|9080||"]);
  assert.deepEqual(cluster(clusters, main).transport_socket, { name: "envoy.transport_sockets.tls" });
});
