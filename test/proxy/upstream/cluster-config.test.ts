// CDS/EDS application: what is accepted, what is rejected (the NACK text), warming, and
// the change events the xDS client subscribes EDS names from.
import { test } from "node:test";
import assert from "node:assert/strict";
import { ClusterManager, prometheusStats } from "../../../src/proxy/upstream/index.ts";
import type { ClusterChangeEvent } from "../../../src/proxy/upstream/index.ts";
import { endpoint, staticCluster } from "./helpers.ts";

test("an unimplemented lb_policy, cluster type or field is an error naming cluster and field; nothing is applied", () => {
  const cm = new ClusterManager();
  assert.equal(cm.applyClusters([staticCluster("good", [endpoint(1)])]).ok, true);
  const r = cm.applyClusters([
    staticCluster("good", [endpoint(1)]),
    staticCluster("bad-lb", [endpoint(1)], { lb_policy: "LOAD_BALANCING_POLICY_CONFIG" }),
    { name: "bad-type", type: "FOO", connect_timeout: "1s" },
    staticCluster("bad-field", [endpoint(1)], { lb_subset_config: { fallback_policy: "ANY_ENDPOINT" } }),
    staticCluster("bad-hc", [endpoint(1)], { health_checks: [{ timeout: "1s" }] }),
    staticCluster("bad-tls", [endpoint(1)], { transport_socket: { name: "envoy.transport_sockets.alts", typed_config: { "@type": "type.googleapis.com/envoy.extensions.transport_sockets.alts.v3.Alts" } } }),
  ]);
  assert.equal(r.ok, false);
  const byResource = new Map(r.errors.map((e) => [e.resource, e]));
  assert.equal(byResource.get("bad-lb")!.field, "lb_policy");
  assert.match(byResource.get("bad-lb")!.message, /cluster "bad-lb": lb_policy: .*LOAD_BALANCING_POLICY_CONFIG.*not implemented/);
  assert.equal(byResource.get("bad-type")!.field, "type");
  assert.equal(byResource.get("bad-field")!.field, "lb_subset_config");
  assert.equal(byResource.get("bad-hc")!.field, "health_checks");
  assert.equal(byResource.get("bad-tls")!.field, "transport_socket");
  assert.ok(!byResource.has("good"));
  // The previous state stays: only "good" exists.
  assert.deepEqual(cm.names(), ["good"]);
});

test("bad endpoint fields in EDS are errors with their path", () => {
  const cm = new ClusterManager();
  const r = cm.applyEndpoints([{ cluster_name: "x", endpoints: [{ lb_endpoints: [endpoint(70000)] }] }]);
  assert.equal(r.ok, false);
  assert.equal(r.errors[0].field, "endpoints[0].lb_endpoints[0].endpoint.address.socket_address.port_value");
  assert.match(r.errors[0].message, /ClusterLoadAssignment "x": .*70000 is not a TCP port/);
});

test("EDS clusters warm until their assignment arrives; edsResourceNames and onChange say what to subscribe", () => {
  const cm = new ClusterManager();
  const events: ClusterChangeEvent[] = [];
  cm.onChange((e) => events.push(e));
  cm.applyClusters([
    { name: "outbound|80||a.default.svc.cluster.local", type: "EDS", eds_cluster_config: { eds_config: { ads: {} }, service_name: "outbound|80||a.default.svc.cluster.local" } },
    { name: "b", type: "EDS", eds_cluster_config: { eds_config: { ads: {} } } },
  ]);
  assert.deepEqual(cm.edsResourceNames(), ["b", "outbound|80||a.default.svc.cluster.local"]);
  assert.deepEqual(events[0].added.sort(), ["b", "outbound|80||a.default.svc.cluster.local"]);
  assert.deepEqual(events[0].edsResourceNames, cm.edsResourceNames());
  assert.deepEqual(cm.warmingClusters(), ["b", "outbound|80||a.default.svc.cluster.local"]);
  assert.equal(cm.get("b")!.selectHost({}), null);
  cm.applyEndpoints([{ cluster_name: "b", endpoints: [{ lb_endpoints: [endpoint(8080)] }] }]);
  assert.deepEqual(cm.warmingClusters(), ["outbound|80||a.default.svc.cluster.local"]);
  assert.equal(cm.get("b")!.selectHost({})!.port, 8080);

  // Re-sending the same cluster changes nothing and fires no event; a changed cluster keeps its
  // endpoints (it does not go back to warming); a missing one is removed.
  cm.applyClusters([
    { name: "outbound|80||a.default.svc.cluster.local", type: "EDS", eds_cluster_config: { eds_config: { ads: {} }, service_name: "outbound|80||a.default.svc.cluster.local" } },
    { name: "b", type: "EDS", eds_cluster_config: { eds_config: { ads: {} } } },
  ]);
  assert.equal(events.length, 1);
  cm.applyClusters([{ name: "b", type: "EDS", lb_policy: "RANDOM", eds_cluster_config: { eds_config: { ads: {} } } }]);
  assert.deepEqual(events[1].removed, ["outbound|80||a.default.svc.cluster.local"]);
  assert.deepEqual(events[1].updated, ["b"]);
  assert.equal(cm.get("b")!.lbPolicy, "RANDOM");
  assert.equal(cm.get("b")!.warming, false);
  assert.equal(cm.get("b")!.selectHost({})!.port, 8080);
});

test("dump() shows hosts with Envoy health flags; stats() and Prometheus use Envoy's names", () => {
  const cm = new ClusterManager();
  cm.applyClusters([staticCluster("outbound|80||a.default.svc.cluster.local", [endpoint(9001), endpoint(9002, { health_status: "DRAINING" })], {
    circuit_breakers: { thresholds: [{ max_connections: 7 }] },
  })]);
  const [d] = cm.dump();
  assert.equal(d.name, "outbound|80||a.default.svc.cluster.local");
  assert.equal(d.circuitBreakers.max_connections, 7);
  assert.equal(d.circuitBreakers.max_pending_requests, 1024);
  assert.deepEqual(d.hosts.map((h) => `${h.address}:${h.port}::${h.healthFlags}`), ["127.0.0.1:9001::healthy", "127.0.0.1:9002::/eds_status_draining"]);
  const stats = cm.stats();
  const total = stats.find((s) => s.name === "cluster.outbound|80||a.default.svc.cluster.local.membership_total")!;
  assert.equal(total.value, 2);
  assert.equal(total.kind, "gauge");
  assert.equal(stats.find((s) => s.stat === "membership_healthy")!.value, 1);
  const text = prometheusStats(stats);
  assert.match(text, /^# TYPE envoy_cluster_upstream_rq_total counter$/m);
  assert.match(text, /^envoy_cluster_membership_total\{envoy_cluster_name="outbound\|80\|\|a\.default\.svc\.cluster\.local"\} 2$/m);
});

test("transport_socket_matches (Istio auto mTLS): each endpoint gets the socket its metadata matches", () => {
  const cm = new ClusterManager();
  const tls = { "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext", sni: "outbound_.80_._.a", common_tls_context: { tls_certificate_sds_secret_configs: [{ name: "default", sds_config: { ads: {} } }] } };
  const raw = { "@type": "type.googleapis.com/envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer" };
  const r = cm.applyClusters([{
    name: "a", type: "EDS", eds_cluster_config: { eds_config: { ads: {} } },
    transport_socket_matches: [
      { name: "tlsMode-istio", match: { tlsMode: "istio" }, transport_socket: { name: "envoy.transport_sockets.tls", typed_config: tls } },
      { name: "tlsMode-disabled", match: {}, transport_socket: { name: "envoy.transport_sockets.raw_buffer", typed_config: raw } },
    ],
  }]);
  assert.deepEqual(r.errors, []);
  const meta = (mode: string) => ({ filter_metadata: { "envoy.transport_socket_match": { tlsMode: mode } } });
  assert.equal(cm.applyEndpoints([{ cluster_name: "a", endpoints: [{ lb_endpoints: [endpoint(8080, { metadata: meta("disabled") }), endpoint(8081), endpoint(8082, { metadata: meta("istio") })] }] }]).ok, true);
  const tlsOf = (port: number) => (cm.get("a")!.hosts().find((h) => h.port === port) as unknown as { tls?: { sni?: string } }).tls?.sni;
  assert.equal(tlsOf(8080), undefined);
  assert.equal(tlsOf(8081), undefined);
  assert.equal(tlsOf(8082), "outbound_.80_._.a");
  const bad = cm.applyClusters([staticCluster("b", [endpoint(1)], { transport_socket: { name: "tls", typed_config: { ...tls, common_tls_context: { tls_certificates: [{ certificate_chain: { filename: "/nonexistent/cert.pem" }, private_key: { inline_string: "x" } }] } } } })]);
  assert.equal(bad.ok, false);
  assert.match(bad.errors[0].message, /cannot read \/nonexistent\/cert\.pem/);
});
