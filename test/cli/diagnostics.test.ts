// What `skiff up` and `skiff control-plane` print as the config is re-checked on every file
// change: a list of problems once, not again while it stays the same, and one line when
// the last problem is fixed.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { Diagnostic } from "../../src/api/index.ts";
import { diagnosticsPrinter } from "../../src/cli/diagnostics.ts";

const weight: Diagnostic = { severity: "error", path: "spec.http[0].route[0].weight", message: "must be an integer", file: "vs.yaml", line: 11, col: 15, kind: "VirtualService", namespace: "shop", name: "reviews" };
const host: Diagnostic = { severity: "warning", path: "spec.hosts[0]", message: "no service matches", file: "vs.yaml", line: 7, col: 5, kind: "VirtualService", namespace: "shop", name: "reviews" };

test("problems are printed when they change, and 'no problems left' once they are gone", () => {
  const printed: string[] = [];
  const show = diagnosticsPrinter((text) => printed.push(text));
  show([]); // a clean start says nothing
  assert.equal(printed.length, 0);
  show([weight]);
  show([weight]); // the same list again: nothing new
  assert.equal(printed.length, 1);
  assert.match(printed[0], /^vs\.yaml:11:15 VirtualService shop\/reviews: spec\.http\[0\]\.route\[0\]\.weight: must be an integer$/);
  show([weight, host]);
  assert.equal(printed.length, 2);
  assert.equal(printed[1].split("\n").length, 2, "the whole new list");
  show([]);
  show([]);
  assert.deepEqual(printed.slice(2), ["config: no problems left"]);
});
