// PeerAuthentication precedence, table-driven: which mTLS mode each workload port runs
// for a set of policies (workload selector > namespace > root namespace; UNSET inherits;
// portLevelMtls overrides one port; default PERMISSIVE).
import { test } from "node:test";
import assert from "node:assert/strict";
import { namespaceMtlsMode, peerAuthnModes } from "../../../../src/pilot/translate/security/index.ts";
import { translate } from "../../../../src/pilot/translate/index.ts";
import type { EffectiveMtls } from "../../../../src/pilot/translate/security/index.ts";
import { pa, viewOf } from "./view.ts";

const labels = { app: "reviews" };
const sel = "  selector: {matchLabels: {app: reviews}}\n";

interface Row {
  name: string;
  yaml: string;
  /** port → expected mode; port 0 stands for "any other port". */
  expect: Record<number, EffectiveMtls>;
}

const rows: Row[] = [
  { name: "nothing: PERMISSIVE", yaml: "", expect: { 0: "PERMISSIVE" } },
  { name: "mesh STRICT", yaml: pa("default", "istio-system", "  mtls: {mode: STRICT}"), expect: { 0: "STRICT" } },
  {
    name: "namespace beats mesh",
    yaml: pa("default", "istio-system", "  mtls: {mode: STRICT}") + pa("default", "default", "  mtls: {mode: DISABLE}"),
    expect: { 0: "DISABLE" },
  },
  {
    name: "workload beats namespace",
    yaml: pa("default", "default", "  mtls: {mode: DISABLE}") + pa("w", "default", `${sel}  mtls: {mode: STRICT}`),
    expect: { 0: "STRICT" },
  },
  {
    name: "workload UNSET inherits namespace, namespace UNSET inherits mesh",
    yaml:
      pa("default", "istio-system", "  mtls: {mode: STRICT}") +
      pa("default", "default", "  mtls: {mode: UNSET}") +
      pa("w", "default", `${sel}  mtls: {mode: UNSET}`),
    expect: { 0: "STRICT" },
  },
  {
    name: "a policy without mtls inherits",
    yaml: pa("default", "default", "  mtls: {mode: DISABLE}") + pa("w", "default", `${sel}  portLevelMtls:\n    "9000": {mode: STRICT}`),
    expect: { 0: "DISABLE", 9000: "STRICT" },
  },
  {
    name: "portLevelMtls overrides one port; UNSET there inherits the workload mode",
    yaml: pa("w", "default", `${sel}  mtls: {mode: STRICT}\n  portLevelMtls:\n    "7000": {mode: DISABLE}\n    "8080": {mode: UNSET}`),
    expect: { 0: "STRICT", 7000: "DISABLE", 8080: "STRICT" },
  },
  {
    name: "portLevelMtls on a namespace policy is ignored",
    yaml: pa("default", "default", `  mtls: {mode: PERMISSIVE}\n  portLevelMtls:\n    "7000": {mode: STRICT}`),
    expect: { 0: "PERMISSIVE", 7000: "PERMISSIVE" },
  },
  {
    name: "a selector that does not match, or another namespace, does not apply",
    yaml: pa("x", "default", "  selector: {matchLabels: {app: ratings}}\n  mtls: {mode: STRICT}") + pa("default", "other", "  mtls: {mode: STRICT}"),
    expect: { 0: "PERMISSIVE" },
  },
  {
    name: "a root-namespace policy with a matching selector is workload-level",
    yaml: pa("default", "default", "  mtls: {mode: DISABLE}") + pa("reviews", "istio-system", `${sel}  mtls: {mode: STRICT}`),
    expect: { 0: "STRICT" },
  },
  {
    name: "the oldest workload policy wins",
    yaml:
      `---\napiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: z-old, namespace: default, creationTimestamp: "2020-01-01T00:00:00Z"}\nspec:\n${sel}  mtls: {mode: DISABLE}\n` +
      `---\napiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: a-new, namespace: default, creationTimestamp: "2021-01-01T00:00:00Z"}\nspec:\n${sel}  mtls: {mode: STRICT}\n`,
    expect: { 0: "DISABLE" },
  },
];

for (const row of rows) {
  test(`PeerAuthentication: ${row.name}`, () => {
    const modes = peerAuthnModes(viewOf(row.yaml, { labels }), []);
    for (const [port, mode] of Object.entries(row.expect)) {
      assert.equal(modes.modeFor(Number(port) || 1234), mode, `port ${port}`);
    }
  });
}

test("the client side infers the destination namespace's mode, ignoring workload policies", () => {
  const view = viewOf(
    pa("default", "istio-system", "  mtls: {mode: STRICT}") +
      pa("default", "legacy", "  mtls: {mode: DISABLE}") +
      pa("w", "default", `${sel}  mtls: {mode: DISABLE}`),
    { labels },
  );
  assert.equal(namespaceMtlsMode(view, "legacy"), "DISABLE");
  assert.equal(namespaceMtlsMode(view, "default"), "STRICT");
});

test("a second workload policy and a namespace portLevelMtls are reported", () => {
  const problems: { resource: string; message: string }[] = [];
  peerAuthnModes(
    viewOf(pa("a", "default", `${sel}  mtls: {mode: STRICT}`) + pa("b", "default", `${sel}  mtls: {mode: DISABLE}`) + pa("default", "default", `  portLevelMtls:\n    "1": {mode: STRICT}`), { labels }),
    problems,
  );
  assert.deepEqual(problems.map((p) => p.resource).sort(), ["PeerAuthentication/default/b", "PeerAuthentication/default/default"]);
});

// The client side per endpoint (Istio's mtlsChecker): a workload whose own policy, or its
// port's portLevelMtls, is DISABLE serves plaintext only, so auto-mTLS clients must send
// plaintext to that endpoint, or every connection would fail.
const ENDPOINTS = `---
apiVersion: v1
kind: Service
metadata: {name: reviews, namespace: default}
spec:
  selector: {app: reviews}
  ports: [{name: http, port: 9080}, {name: tcp-db, port: 9090}]
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: reviews-v1, namespace: default}
spec: {address: 10.0.1.1, labels: {app: reviews, version: v1, security.istio.io/tlsMode: istio}, serviceAccount: r1}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: reviews-v2, namespace: default}
spec: {address: 10.0.1.2, labels: {app: reviews, version: v2, security.istio.io/tlsMode: istio}, serviceAccount: r2}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: reviews-legacy, namespace: default}
spec: {address: 10.0.1.3, labels: {app: reviews, version: v3}, serviceAccount: legacy}
`;

/** tlsMode of each endpoint address in the client's EDS for one reviews port. */
function clientTlsModes(yaml: string, port: number): Record<string, string> {
  const view = viewOf(ENDPOINTS + yaml, { namespace: "client", labels: { app: "client" } });
  const eds = translate(view.ctx.snapshot, view.proxy).resources.endpoints.find((e) => e.cluster_name === `outbound|${port}||reviews.default.svc.cluster.local`);
  assert.ok(eds, `no EDS for reviews:${port}`);
  const out: Record<string, string> = {};
  for (const loc of eds.endpoints as Array<{ lb_endpoints: Array<{ endpoint: { address: { socket_address: { address: string } } }; metadata: { filter_metadata: Record<string, { tlsMode?: string }> } }> }>) {
    for (const lb of loc.lb_endpoints) out[lb.endpoint.address.socket_address.address] = String(lb.metadata.filter_metadata["envoy.transport_socket_match"].tlsMode);
  }
  return out;
}

test("auto mTLS per endpoint: a workload or port whose PeerAuthentication is DISABLE gets plaintext from clients", () => {
  assert.deepEqual(clientTlsModes("", 9080), { "10.0.1.1": "istio", "10.0.1.2": "istio", "10.0.1.3": "disabled" }, "no policy: sidecars get mTLS");
  const policies =
    pa("v1-off", "default", "  selector: {matchLabels: {version: v1}}\n  mtls: {mode: DISABLE}") +
    pa("v2-db-off", "default", '  selector: {matchLabels: {version: v2}}\n  mtls: {mode: STRICT}\n  portLevelMtls:\n    "9090": {mode: DISABLE}') +
    pa("elsewhere", "other", "  selector: {matchLabels: {app: reviews}}\n  mtls: {mode: DISABLE}");
  assert.deepEqual(clientTlsModes(policies, 9080), { "10.0.1.1": "disabled", "10.0.1.2": "istio", "10.0.1.3": "disabled" }, "v1's own policy turns it off; v2's port 9080 stays STRICT");
  assert.deepEqual(clientTlsModes(policies, 9090), { "10.0.1.1": "disabled", "10.0.1.2": "disabled", "10.0.1.3": "disabled" }, "v2's portLevelMtls turns its port 9090 off");
  const meshOff = pa("default", "istio-system", "  mtls: {mode: DISABLE}") + pa("v2-on", "default", "  selector: {matchLabels: {version: v2}}\n  mtls: {mode: UNSET}");
  assert.deepEqual(clientTlsModes(meshOff, 9080)["10.0.1.2"], "disabled", "UNSET inherits the mesh's DISABLE");
});
