// Envoy compiles regexes with RE2; these pin that Skiff judges them the same way and not
// as JavaScript's RegExp would.
import { test } from "node:test";
import assert from "node:assert/strict";
import { checkRe2 } from "../../../src/api/semantic/regex.ts";
import { validateSemantics } from "../../../src/api/semantic/index.ts";
import type { AnyResource } from "../../../src/api/types.ts";

const perlOnly = ["^/api(?=/v1)", "^(?!admin).*", "(?<=foo)bar", "(?<!foo)bar", "(a+)\\1", "a++"];

test("patterns JavaScript accepts but RE2 rejects are reported", () => {
  for (const pattern of perlOnly) {
    if (pattern !== "a++") assert.doesNotThrow(() => new RegExp(pattern), `JS RegExp should accept ${pattern}`);
    const problem = checkRe2(pattern);
    assert.ok(problem, `RE2 should reject ${pattern}`);
    assert.match(problem, /invalid RE2 regex/);
  }
});

test("RE2 syntax JavaScript lacks is accepted", () => {
  // Named groups in Go/RE2 form, inline flags and POSIX classes: RE2 syntax JavaScript does not share.
  for (const pattern of ["(?P<version>v[0-9]+)", "(?i)^/API/", "[[:alpha:]]+", "\\pL+", "^/ratings/v[0-9]+/(reviews|stars)/\\d+$"]) {
    assert.equal(checkRe2(pattern), undefined, pattern);
  }
});

test("syntax errors carry RE2's reason", () => {
  assert.match(checkRe2("/ratings/(v1|v2") ?? "", /missing closing \)/);
  assert.match(checkRe2("[z-a]") ?? "", /invalid character class range/);
  assert.match(checkRe2("") ?? "", /must not be empty/);
});

test("regexes longer than Envoy's program-size approximation are rejected", () => {
  assert.match(checkRe2("a".repeat(1025)) ?? "", /too large/);
  assert.equal(checkRe2("a".repeat(1024)), undefined);
});

test("a VirtualService with a lookahead in a header match gets an error at that field", () => {
  const vs = {
    apiVersion: "networking.istio.io/v1", kind: "VirtualService", metadata: { name: "r", namespace: "default" },
    spec: { hosts: ["r"], http: [{ match: [{ headers: { "x-id": { regex: "^(?=a)" } } }], route: [{ destination: { host: "r" } }] }] },
  } as unknown as AnyResource;
  const ds = validateSemantics(vs, { all: [vs], domain: "cluster.local" });
  assert.deepEqual(ds.map((d) => [d.severity, d.path]), [["error", "spec.http[0].match[0].headers.x-id.regex"]]);
  assert.ok(ds[0].fix?.includes("RE2"));
});
