import { test } from "node:test";
import assert from "node:assert/strict";
import { formatDiagnostic, diagnosticToJson, locateDiagnostic, sortDiagnostics, loadText, splitPath, joinPath, pathAndAncestors } from "../../src/api/index.ts";

test("a diagnostic reads FILE:LINE:COL Kind namespace/name: field.path: message (fix)", () => {
  assert.equal(
    formatDiagnostic({ severity: "error", file: "vs.yaml", line: 12, col: 9, kind: "VirtualService", namespace: "shop", name: "cart", path: "spec.http[0].route", message: "weights sum to 90", fix: "make them sum to 100" }),
    "vs.yaml:12:9 VirtualService shop/cart: spec.http[0].route: weights sum to 90 (make them sum to 100)",
  );
});

test("warnings say so; unknown parts are left out, not printed empty", () => {
  assert.equal(formatDiagnostic({ severity: "warning", file: "e.yaml", line: 1, col: 1, path: "", message: "file has no resources" }), "e.yaml:1:1 warning: file has no resources");
  assert.equal(formatDiagnostic({ severity: "error", kind: "Namespace", name: "a", path: "metadata.name", message: "bad" }), "Namespace a: metadata.name: bad");
});

test("the JSON form keeps every known field and drops unknown ones", () => {
  assert.deepEqual(diagnosticToJson({ severity: "error", path: "spec", message: "m", file: "f.yaml", line: 2, col: 3 }), { severity: "error", file: "f.yaml", line: 2, col: 3, path: "spec", message: "m" });
});

test("locating a diagnostic uses the field's line, else its nearest ancestor's, and fills in the resource", () => {
  const { resources } = loadText("apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata:\n  name: gw\n  namespace: edge\nspec:\n  servers:\n  - port: {number: 80}\n", "gw.yaml");
  const [gw] = resources;
  const exact = locateDiagnostic({ severity: "error", path: "spec.servers[0].port.number", message: "m" }, gw);
  assert.deepEqual([exact.file, exact.line, exact.col, exact.kind, exact.namespace, exact.name], ["gw.yaml", 8, 20, "Gateway", "edge", "gw"]);
  const missing = locateDiagnostic({ severity: "error", path: "spec.servers[0].hosts", message: "m" }, gw);
  assert.deepEqual([missing.line, missing.col], [8, 5]);
  const whole = locateDiagnostic({ severity: "error", path: "", message: "m" }, gw);
  assert.deepEqual([whole.line, whole.col], [1, 1]);
});

test("diagnostics sort by file and position", () => {
  const sorted = sortDiagnostics([
    { severity: "warning", path: "", message: "c", file: "b.yaml", line: 1, col: 1 },
    { severity: "error", path: "", message: "b", file: "a.yaml", line: 9, col: 1 },
    { severity: "error", path: "", message: "a", file: "a.yaml", line: 2, col: 5 },
  ]);
  assert.deepEqual(sorted.map((d) => d.message), ["a", "b", "c"]);
});

test("field paths round-trip, quoting keys that are not identifiers", () => {
  const segments = ["metadata", "labels", "app.kubernetes.io/name"];
  assert.equal(joinPath(segments), 'metadata.labels["app.kubernetes.io/name"]');
  assert.deepEqual(splitPath(joinPath(segments)), segments);
  assert.deepEqual(splitPath("spec.http[0].route[1].weight"), ["spec", "http", 0, "route", 1, "weight"]);
  assert.deepEqual(pathAndAncestors("spec.hosts[0]"), ["spec.hosts[0]", "spec.hosts", "spec", ""]);
  assert.equal(splitPath("spec..x"), undefined);
});
