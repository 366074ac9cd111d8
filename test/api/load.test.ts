import { test } from "node:test";
import assert from "node:assert/strict";
import { loadText, formatDiagnostic } from "../../src/api/index.ts";

const multiDoc = `# two resources, an empty document between them
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata:
  name: reviews
  namespace: default
spec:
  hosts:
  - reviews
  http:
  - route:
    - destination:
        host: reviews
        subset: v1
      weight: 75
    - destination: {host: reviews, subset: v2}
      weight: 25
---
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: reviews
  labels:
    app.kubernetes.io/name: reviews
spec:
  host: reviews
`;

test("every field of every document keeps its line and column", () => {
  const { resources, diagnostics } = loadText(multiDoc, "mesh.yaml");
  assert.deepEqual(diagnostics, []);
  assert.equal(resources.length, 2);
  const [vs, dr] = resources;
  assert.deepEqual({ file: vs.source?.file, line: vs.source?.line, col: vs.source?.col }, { file: "mesh.yaml", line: 2, col: 1 });
  const at = (r: typeof vs, path: string) => {
    const pos = r.source?.fields.get(path);
    return pos && [pos.line, pos.col];
  };
  assert.deepEqual(at(vs, "metadata.name"), [5, 9]);
  assert.deepEqual(at(vs, "spec.hosts[0]"), [9, 5]);
  assert.deepEqual(at(vs, "spec.http[0].route[0].destination.subset"), [14, 17]);
  assert.deepEqual(at(vs, "spec.http[0].route[1].weight"), [17, 15]);
  assert.deepEqual(at(vs, "spec.http[0].route[1].destination.host"), [16, 27]);
  assert.equal(dr.source?.line, 20);
  assert.deepEqual(at(dr, "spec.host"), [27, 9]);
  // Keys that are not identifiers are quoted in paths.
  assert.deepEqual(at(dr, 'metadata.labels["app.kubernetes.io/name"]'), [25, 29]);
});

test("JSON input is read with positions too", () => {
  const json = `{
  "apiVersion": "security.istio.io/v1beta1",
  "kind": "PeerAuthentication",
  "metadata": {"name": "default", "namespace": "istio-system"},
  "spec": {"mtls": {"mode": "STRICT"}}
}`;
  const { resources, diagnostics } = loadText(json, "pa.json");
  assert.deepEqual(diagnostics, []);
  assert.equal(resources.length, 1);
  const [pa] = resources;
  assert.equal(pa.kind, "PeerAuthentication");
  assert.equal(pa.apiVersion, "security.istio.io/v1");
  assert.equal(pa.originalApiVersion, "security.istio.io/v1beta1");
  assert.deepEqual(pa.spec, { mtls: { mode: "STRICT" } });
  const mode = pa.source?.fields.get("spec.mtls.mode");
  assert.deepEqual(mode && [mode.line, mode.col], [5, 29]);
});

// Each kind and version the loader accepts, and the internal version it becomes.
const INTERNAL: Record<string, [group: string, versions: string[], internal: string]> = {
  Gateway: ["networking.istio.io", ["v1alpha3", "v1beta1", "v1"], "networking.istio.io/v1"],
  VirtualService: ["networking.istio.io", ["v1alpha3", "v1beta1", "v1"], "networking.istio.io/v1"],
  DestinationRule: ["networking.istio.io", ["v1alpha3", "v1beta1", "v1"], "networking.istio.io/v1"],
  ServiceEntry: ["networking.istio.io", ["v1alpha3", "v1beta1", "v1"], "networking.istio.io/v1"],
  Sidecar: ["networking.istio.io", ["v1alpha3", "v1beta1", "v1"], "networking.istio.io/v1"],
  WorkloadEntry: ["networking.istio.io", ["v1alpha3", "v1beta1", "v1"], "networking.istio.io/v1"],
  WorkloadGroup: ["networking.istio.io", ["v1alpha3", "v1beta1", "v1"], "networking.istio.io/v1"],
  PeerAuthentication: ["security.istio.io", ["v1beta1", "v1"], "security.istio.io/v1"],
  RequestAuthentication: ["security.istio.io", ["v1beta1", "v1"], "security.istio.io/v1"],
  AuthorizationPolicy: ["security.istio.io", ["v1beta1", "v1"], "security.istio.io/v1"],
  Telemetry: ["telemetry.istio.io", ["v1alpha1", "v1"], "telemetry.istio.io/v1"],
  Namespace: ["", ["v1"], "v1"],
  Service: ["", ["v1"], "v1"],
  Workload: ["skiff.dev", ["v1alpha1"], "skiff.dev/v1alpha1"],
};

for (const [kind, [group, versions, internal]] of Object.entries(INTERNAL)) {
  test(`${kind}: every accepted version normalizes to ${internal} without changing the spec`, () => {
    for (const version of versions) {
      const apiVersion = group ? `${group}/${version}` : version;
      const text = `apiVersion: ${apiVersion}\nkind: ${kind}\nmetadata: {name: x, namespace: ns}\nspec: {some: {nested: [1, 2]}}\n`;
      const { resources, diagnostics } = loadText(text, "k.yaml");
      assert.deepEqual(diagnostics, [], `${apiVersion} ${kind}`);
      assert.equal(resources[0].apiVersion, internal);
      assert.equal(resources[0].originalApiVersion, apiVersion);
      assert.deepEqual(resources[0].spec, { some: { nested: [1, 2] } });
      assert.deepEqual(resources[0].metadata, { name: "x", namespace: "ns" });
    }
  });
}

test("an unknown kind is an error that names the supported kinds and a close match", () => {
  const { resources, diagnostics } = loadText("apiVersion: networking.istio.io/v1\nkind: VirtualServise\nmetadata: {name: x}\n", "u.yaml");
  assert.equal(resources.length, 0);
  assert.equal(diagnostics.length, 1);
  const [d] = diagnostics;
  assert.equal(d.severity, "error");
  assert.equal(d.path, "kind");
  assert.deepEqual([d.file, d.line, d.col], ["u.yaml", 2, 7]);
  assert.match(d.message, /unknown kind "VirtualServise"/);
  assert.match(d.fix ?? "", /did you mean "VirtualService"/);
  assert.match(d.fix ?? "", /AuthorizationPolicy.*Telemetry.*Workload/);
});

test("a known kind in a wrong apiVersion lists the valid versions", () => {
  const { resources, diagnostics } = loadText("apiVersion: networking.istio.io/v2\nkind: Gateway\nmetadata: {name: gw}\n", "g.yaml");
  assert.equal(resources.length, 0);
  const [d] = diagnostics;
  assert.equal(d.path, "apiVersion");
  assert.equal(d.line, 1);
  assert.match(d.message, /"networking\.istio\.io\/v2" is not valid for kind Gateway/);
  assert.match(d.fix ?? "", /networking\.istio\.io\/v1alpha3, networking\.istio\.io\/v1beta1, networking\.istio\.io\/v1/);
  assert.equal(formatDiagnostic(d).split("\n").length, 1);
});

test("malformed YAML gives FILE:LINE:COL and the parser's message, and other documents still load", () => {
  const text = "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\nspec:\n  hosts: [a, b\n  x: 1\n";
  const { resources, diagnostics } = loadText(text, "bad.yaml");
  assert.deepEqual(resources.map((r) => r.metadata.name), ["a"]);
  assert.ok(diagnostics.length >= 1);
  for (const d of diagnostics) {
    assert.equal(d.severity, "error");
    assert.equal(d.file, "bad.yaml");
    assert.ok((d.line ?? 0) >= 5, `line ${d.line} is in the second document`);
    assert.match(d.message, /^invalid YAML: \S/);
    assert.doesNotMatch(d.message, /\n/);
  }
});

test("duplicate keys are a YAML error", () => {
  const { diagnostics } = loadText("apiVersion: v1\nkind: Namespace\nkind: Service\nmetadata: {name: a}\n", "dup.yaml");
  assert.equal(diagnostics.length, 1);
  assert.equal(diagnostics[0].line, 3);
  assert.match(diagnostics[0].message, /unique/);
});

test("an empty file, or one of comments and empty documents, is a warning, not an error", () => {
  for (const text of ["", "# nothing here\n", "---\n---\n"]) {
    const { resources, diagnostics } = loadText(text, "empty.yaml");
    assert.equal(resources.length, 0);
    assert.equal(diagnostics.length, 1);
    assert.equal(diagnostics[0].severity, "warning");
    assert.equal(diagnostics[0].message, "file has no resources");
  }
});

test("documents that are not resources get clear errors at their place", () => {
  const cases: [text: string, path: string, message: RegExp][] = [
    ["- a\n- b\n", "", /document is a list, not an object/],
    ["just a string\n", "", /document is a scalar/],
    ["kind: Gateway\nmetadata: {name: a}\n", "", /missing apiVersion/],
    ["apiVersion: v1\nmetadata: {name: a}\n", "", /missing kind/],
    ["apiVersion: v1\nkind: Namespace\n", "", /missing metadata/],
    ["apiVersion: v1\nkind: Namespace\nmetadata: {labels: {a: b}}\n", "metadata", /missing metadata\.name/],
    ["apiVersion: v1\nkind: Namespace\nmetadata: {name: 5}\n", "metadata.name", /metadata\.name must be a non-empty string/],
    ["apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec: [1]\n", "spec", /spec must be an object/],
    ["apiVersion: 1\nkind: Namespace\nmetadata: {name: a}\n", "apiVersion", /apiVersion must be a non-empty string/],
  ];
  for (const [text, path, message] of cases) {
    const { resources, diagnostics } = loadText(text, "n.yaml");
    assert.equal(resources.length, 0, text);
    assert.equal(diagnostics.length, 1, text);
    assert.equal(diagnostics[0].severity, "error");
    assert.equal(diagnostics[0].path, path, text);
    assert.match(diagnostics[0].message, message);
    assert.ok(diagnostics[0].fix, `a fix for ${text}`);
    assert.equal(diagnostics[0].file, "n.yaml");
    assert.ok((diagnostics[0].line ?? 0) >= 1);
  }
});

test("a missing spec becomes an empty one; status is not kept", () => {
  const { resources } = loadText("apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\nstatus: {phase: Active}\n", "ns.yaml");
  assert.deepEqual(resources[0].spec, {});
  assert.equal("status" in resources[0], false);
});

test("a v1 List (as kubectl prints) yields each item, positioned within the file", () => {
  const text = `apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Namespace
  metadata: {name: one}
- apiVersion: networking.istio.io/v1
  kind: Gateway
  metadata:
    name: gw
  spec:
    selector: {istio: ingressgateway}
- 42
`;
  const { resources, diagnostics } = loadText(text, "list.yaml");
  assert.deepEqual(resources.map((r) => [r.kind, r.metadata.name, r.source?.line, r.source?.col]), [
    ["Namespace", "one", 4, 3],
    ["Gateway", "gw", 7, 3],
  ]);
  const selector = resources[1].source?.fields.get("spec.selector.istio");
  assert.deepEqual(selector && [selector.line, selector.col], [12, 23]);
  assert.deepEqual(diagnostics.map((d) => [d.path, d.line, d.message]), [["items[2]", 13, "list item is not an object"]]);
});
