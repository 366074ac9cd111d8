// RequestAuthentication → jwt_authn: which policies contribute providers, the rule shape
// (a token is optional, a bad one is refused), and how jwksUri finds a cluster.
import { test } from "node:test";
import assert from "node:assert/strict";
import { buildJwt } from "../../../../src/pilot/translate/security/jwt.ts";
import { viewOf } from "./view.ts";

const ra = (name: string, ns: string, body: string): string =>
  `---\napiVersion: security.istio.io/v1\nkind: RequestAuthentication\nmetadata: {name: ${name}, namespace: ${ns}}\nspec:\n${body}\n`;
const rule = (issuer: string, extra = `    jwks: '{"keys":[]}'`): string => `  - issuer: ${issuer}\n${extra}`;

type Json = Record<string, unknown>;
function config(filter: Json | undefined): Json {
  assert.ok(filter, "expected a jwt_authn filter");
  return filter.typed_config as Json;
}
function issuers(filter: Json | undefined): string[] {
  return Object.values(config(filter).providers as Record<string, Json>).map((p) => String(p.issuer));
}

test("mesh, namespace and matching workload policies all contribute; others do not", () => {
  const yaml =
    ra("mesh", "istio-system", `  jwtRules:\n${rule("mesh-iss")}`) +
    ra("ns", "default", `  jwtRules:\n${rule("ns-iss")}`) +
    ra("mine", "default", `  selector: {matchLabels: {app: reviews}}\n  jwtRules:\n${rule("wl-iss")}`) +
    ra("theirs", "default", `  selector: {matchLabels: {app: ratings}}\n  jwtRules:\n${rule("no-1")}`) +
    ra("elsewhere", "other", `  jwtRules:\n${rule("no-2")}`);
  const { filter } = buildJwt(viewOf(yaml, { labels: { app: "reviews" } }), []);
  assert.deepEqual(issuers(filter).sort(), ["mesh-iss", "ns-iss", "wl-iss"]);
});

test("no RequestAuthentication, no filter", () => {
  assert.equal(buildJwt(viewOf("", {}), []).filter, undefined);
});

test("the rule accepts any provider or no token at all", () => {
  const { filter } = buildJwt(viewOf(ra("a", "default", `  jwtRules:\n${rule("one")}\n${rule("two")}`)), []);
  const rules = config(filter).rules as Json[];
  assert.equal(rules.length, 1);
  const requirements = ((rules[0].requires as Json).requires_any as Json).requirements as Json[];
  assert.deepEqual(requirements, [{ provider_name: "origins-0" }, { provider_name: "origins-1" }, { allow_missing: {} }]);
});

test("jwksUri: a mesh service's own cluster, else a STATIC or STRICT_DNS cluster of its own", () => {
  const yaml =
    `apiVersion: v1\nkind: Service\nmetadata: {name: idp}\nspec:\n  selector: {app: idp}\n  ports:\n  - {name: http, port: 8080}\n` +
    ra(
      "a",
      "default",
      `  jwtRules:\n` +
        rule("i1", "    jwksUri: http://idp.default.svc.cluster.local:8080/keys") + "\n" +
        rule("i2", "    jwksUri: http://127.0.0.1:9000/keys") + "\n" +
        rule("i3", "    jwksUri: https://login.example.com/keys"),
    );
  const { filter, clusters } = buildJwt(viewOf(yaml), []);
  const cluster = (name: string): string =>
    String((((config(filter).providers as Record<string, Json>)[name].remote_jwks as Json).http_uri as Json).cluster);
  assert.equal(cluster("origins-0"), "outbound|8080||idp.default.svc.cluster.local");
  assert.equal(cluster("origins-1"), "jwks|127.0.0.1|9000");
  assert.equal(cluster("origins-2"), "jwks|login.example.com|443");
  assert.deepEqual(
    clusters.map((c) => [c.name, c.type, c.transport_socket !== undefined]),
    [
      ["jwks|127.0.0.1|9000", "STATIC", false],
      ["jwks|login.example.com|443", "STRICT_DNS", true],
    ],
  );
});

test("a rule that cannot be verified is reported with its index and left out", () => {
  const problems: { resource: string; message: string }[] = [];
  const { filter } = buildJwt(viewOf(ra("a", "default", `  jwtRules:\n${rule("ok")}\n${rule("bad", "    jwksUri: ftp://x/keys")}`)), problems);
  assert.deepEqual(issuers(filter), ["ok"]);
  assert.equal(problems.length, 1);
  assert.match(problems[0].message, /^spec\.jwtRules\[1\]: jwksUri "ftp:\/\/x\/keys" is not an http\(s\) URL/);
});
