// PeerAuthentication precedence, table-driven: which mTLS mode each workload port runs
// for a set of policies (workload selector > namespace > root namespace; UNSET inherits;
// portLevelMtls overrides one port; default PERMISSIVE).
import { test } from "node:test";
import assert from "node:assert/strict";
import { namespaceMtlsMode, peerAuthnModes } from "../../../../src/pilot/translate/security/index.ts";
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
