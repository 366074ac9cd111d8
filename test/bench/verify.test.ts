// The data-plane bench refuses to measure a Skiff path that is not what it claims:
// telemetry on means every proxy counts the requests and logs them; the mTLS path means
// the server saw mutual TLS from the client's SPIFFE ID and the client verifies the server.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mtlsProblems, parsePrometheus, sumSeries, telemetryProblems } from "../../bench/dataplane/verify.ts";

const CLIENT = "spiffe://cluster.local/ns/default/sa/client-mtls";
const SERVER = "spiffe://cluster.local/ns/default/sa/upstream-mtls";
const CLUSTER = "outbound|9080||upstream-mtls.default.svc.cluster.local";

function requests(reporter: string, policy: string, principal: string, n: number): string {
  return `# TYPE istio_requests_total counter
istio_requests_total{reporter="${reporter}",source_workload="client-mtls",source_principal="${principal}",destination_service="upstream-mtls.default.svc.cluster.local",response_code="200",connection_security_policy="${policy}"} ${n}
istio_requests_total{reporter="${reporter}",source_principal="${principal}",response_code="503",response_flags="UF,URX",connection_security_policy="${policy}"} 1
`;
}

const clientDump = (san: string): unknown => ({
  configs: [
    {
      "@type": "type.googleapis.com/envoy.admin.v3.ClustersConfigDump",
      dynamic_active_clusters: [
        {
          cluster: {
            name: CLUSTER,
            type: "EDS",
            transport_socket_matches: [{ name: "tlsMode-istio", transport_socket: { typed_config: { common_tls_context: { combined_validation_context: { default_validation_context: { match_subject_alt_names: [{ exact: san }] } } } } } }],
          },
        },
      ],
    },
  ],
});

test("prometheus text: labels (with escapes) and values are read, comments skipped", () => {
  const samples = parsePrometheus(`# HELP x y\nplain 3\nwith{a="1",b="q\\"uote\\\\",c="x,y"} 4.5\nempty{} 2\n`);
  assert.deepEqual(samples, [
    { name: "plain", labels: {}, value: 3 },
    { name: "with", labels: { a: "1", b: 'q"uote\\', c: "x,y" }, value: 4.5 },
    { name: "empty", labels: {}, value: 2 },
  ]);
  assert.equal(sumSeries(parsePrometheus(requests("destination", "mutual_tls", CLIENT, 7)), "istio_requests_total", { connection_security_policy: "mutual_tls" }), 8);
  assert.equal(sumSeries(parsePrometheus(requests("destination", "mutual_tls", CLIENT, 7)), "istio_requests_total", { response_code: "200" }), 7);
});

test("telemetry check: passes when every proxy counted the requests and the log grew per proxy", () => {
  const before = [
    { name: "client", reporter: "source" as const, prometheus: requests("source", "unknown", CLIENT, 5) },
    { name: "server", reporter: "destination" as const, prometheus: requests("destination", "mutual_tls", CLIENT, 5) },
  ];
  const after = [
    { name: "client", reporter: "source" as const, prometheus: requests("source", "unknown", CLIENT, 15) },
    { name: "server", reporter: "destination" as const, prometheus: requests("destination", "mutual_tls", CLIENT, 15) },
  ];
  assert.deepEqual(telemetryProblems({ path: "mesh", requests: 10, proxies: after, before, accessLogLinesAdded: 20 }), []);
});

test("telemetry check: a proxy without the stats filter, or a log that did not grow, is named", () => {
  const after = [
    { name: "client", reporter: "source" as const, prometheus: "envoy_cluster_upstream_rq_total 10\n" },
    { name: "server", reporter: "destination" as const, prometheus: requests("destination", "none", "", 9) },
  ];
  const problems = telemetryProblems({ path: "mesh", requests: 10, proxies: after, before: [], accessLogLinesAdded: 10 });
  assert.equal(problems.length, 2, problems.join("\n"));
  assert.match(problems[0], /proxy client counted 0 of 10 requests in istio_requests_total\{reporter="source"\}/);
  assert.match(problems[1], /access log grew by 10 lines, expected 20 \(10 requests × 2 proxies\)/);
  // Counted under the wrong reporter does not count.
  const wrongReporter = [{ name: "server", reporter: "destination" as const, prometheus: requests("source", "unknown", CLIENT, 50) }];
  assert.match(telemetryProblems({ path: "sidecar", requests: 10, proxies: wrongReporter, before: [], accessLogLinesAdded: 10 })[0], /proxy server counted 0 of 10/);
});

test("mTLS check: passes on mutual TLS from the client's SPIFFE ID with a SAN-verifying client", () => {
  assert.deepEqual(mtlsProblems({ serverHandshakes: 1, serverPrometheus: requests("destination", "mutual_tls", CLIENT, 10), clientPrincipal: CLIENT, clientConfigDump: clientDump(SERVER), cluster: CLUSTER, serverPrincipal: SERVER }), []);
  // With telemetry off there are no request metrics: handshakes and the client's config still checked.
  assert.deepEqual(mtlsProblems({ serverHandshakes: 3, clientPrincipal: CLIENT, clientConfigDump: clientDump(SERVER), cluster: CLUSTER, serverPrincipal: SERVER }), []);
});

test("mTLS check: plaintext, a foreign identity, no handshake or an unverified server each fail", () => {
  const plaintext = mtlsProblems({ serverHandshakes: 0, serverPrometheus: requests("destination", "none", "", 10), clientPrincipal: CLIENT, clientConfigDump: clientDump(SERVER), cluster: CLUSTER, serverPrincipal: SERVER });
  assert.equal(plaintext.length, 3, plaintext.join("\n"));
  assert.match(plaintext[0], /counted no TLS handshake/);
  assert.match(plaintext[1], /no request with connection_security_policy="mutual_tls" from spiffe:\/\/cluster\.local\/ns\/default\/sa\/client-mtls/);
  assert.match(plaintext[2], /11 requests with connection_security_policy="none"/);

  const other = mtlsProblems({ serverHandshakes: 1, serverPrometheus: requests("destination", "mutual_tls", "spiffe://cluster.local/ns/default/sa/intruder", 10), clientPrincipal: CLIENT, clientConfigDump: clientDump(SERVER), cluster: CLUSTER, serverPrincipal: SERVER });
  assert.equal(other.length, 1);
  assert.match(other[0], /no request with connection_security_policy="mutual_tls" from .*client-mtls/);

  const unverified = mtlsProblems({ serverHandshakes: 1, clientPrincipal: CLIENT, clientConfigDump: clientDump("spiffe://cluster.local/ns/default/sa/someone-else"), cluster: CLUSTER, serverPrincipal: SERVER });
  assert.deepEqual(unverified, [`skiff-mesh-mtls: the client sidecar's cluster ${CLUSTER} does not verify the server's SPIFFE ID ${SERVER}`]);

  const noCluster = mtlsProblems({ serverHandshakes: 1, clientPrincipal: CLIENT, clientConfigDump: { configs: [] }, cluster: CLUSTER, serverPrincipal: SERVER });
  assert.deepEqual(noCluster, [`skiff-mesh-mtls: the client sidecar has no cluster ${CLUSTER}`]);
});
