// jwt_authn's requirement algebra, table-driven against a scripted verifier (which
// provider finds what token, and how its verification ends), and the config errors that
// NACK a jwt_authn filter or its per-route config.
import { test } from "node:test";
import assert from "node:assert/strict";
import { compileRequirement, type Outcome, type Verifier } from "../../../src/proxy/filters/jwt-requirements.ts";
import { createHttpFilter, validatePerFilterConfig } from "../../../src/proxy/filters/index.ts";
import { ConfigError } from "../../../src/proxy/json.ts";

type Json = Record<string, unknown>;

/** Per provider: "ok", "missing" or a failure text. */
type Script = Record<string, string>;

function verifier(script: Script): Verifier {
  const outcome = (s: string | undefined): Outcome => (s === "ok" ? { kind: "ok" } : s === undefined || s === "missing" ? { kind: "missing" } : { kind: "failed", error: s as never });
  return {
    provider: async (name, audiences) => outcome(audiences && script[`${name}+aud`] ? script[`${name}+aud`] : script[name]),
    anyTokenPresent: () => Object.values(script).some((s) => s !== "missing"),
    allPresent: async () => {
      const failed = Object.values(script).find((s) => s !== "ok" && s !== "missing");
      return failed ? outcome(failed) : { kind: "ok" };
    },
  };
}

const providers = new Set(["a", "b"]);
const anyAB = { requires_any: { requirements: [{ provider_name: "a" }, { provider_name: "b" }] } };
const istio = { requires_any: { requirements: [{ provider_name: "a" }, { provider_name: "b" }, { allow_missing: {} }] } };
const allAB = { requires_all: { requirements: [{ provider_name: "a" }, { provider_name: "b" }] } };

const cases: Array<[string, Json, Script, string]> = [
  ["provider: valid", { provider_name: "a" }, { a: "ok", b: "missing" }, "ok"],
  ["provider: missing", { provider_name: "a" }, { a: "missing", b: "missing" }, "missing"],
  ["provider: failed", { provider_name: "a" }, { a: "Jwt is expired", b: "missing" }, "Jwt is expired"],
  ["provider_and_audiences uses the override", { provider_and_audiences: { provider_name: "a", audiences: ["x"] } }, { a: "ok", "a+aud": "Audiences in Jwt are not allowed", b: "missing" }, "Audiences in Jwt are not allowed"],
  ["any: one valid", anyAB, { a: "Jwt issuer is not configured", b: "ok" }, "ok"],
  ["any: none present", anyAB, { a: "missing", b: "missing" }, "missing"],
  ["any: a real failure beats missing", anyAB, { a: "missing", b: "Jwt verification fails" }, "Jwt verification fails"],
  ["istio: no token passes", istio, { a: "missing", b: "missing" }, "ok"],
  ["istio: a valid token passes", istio, { a: "ok", b: "missing" }, "ok"],
  ["istio: a bad token is refused", istio, { a: "Jwt is expired", b: "missing" }, "Jwt is expired"],
  ["all: both valid", allAB, { a: "ok", b: "ok" }, "ok"],
  ["all: one missing", allAB, { a: "ok", b: "missing" }, "missing"],
  ["all: one failed", allAB, { a: "Jwt not yet valid", b: "ok" }, "Jwt not yet valid"],
  ["allow_missing alone: nothing present", { allow_missing: {} }, { a: "missing", b: "missing" }, "ok"],
  ["allow_missing alone: a bad token", { allow_missing: {} }, { a: "Jwt verification fails", b: "missing" }, "Jwt verification fails"],
  ["allow_missing_or_failed: a bad token passes", { allow_missing_or_failed: {} }, { a: "Jwt verification fails", b: "missing" }, "ok"],
  ["any with allow_missing_or_failed", { requires_any: { requirements: [{ provider_name: "a" }, { allow_missing_or_failed: {} }] } }, { a: "Jwt is expired", b: "missing" }, "ok"],
  ["nested: all(a, any(b, allow_missing))", { requires_all: { requirements: [{ provider_name: "a" }, { requires_any: { requirements: [{ provider_name: "b" }, { allow_missing: {} }] } }] } }, { a: "ok", b: "ok" }, "ok"],
];

for (const [name, req, script, want] of cases) {
  test(`requirement ${name} → ${want}`, async () => {
    const r = await compileRequirement(req, "requires", providers)(verifier(script));
    const got = r.kind === "failed" ? r.error : r.kind;
    assert.equal(got, want);
  });
}

const jwks = JSON.stringify({ keys: [{ kty: "EC", crv: "P-256", x: "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", y: "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0", kid: "k" }] });
const provider = { issuer: "https://idp.test", local_jwks: { inline_string: jwks } };
const JWT = "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication";

const badConfigs: Array<[string, Json, string]> = [
  ["unknown provider in a rule", { providers: { p: provider }, rules: [{ match: { prefix: "/" }, requires: { provider_name: "q" } }] }, "f.typed_config.rules[0].requires.provider_name"],
  ["requires_any with one child", { providers: { p: provider }, rules: [{ match: { prefix: "/" }, requires: { requires_any: { requirements: [{ provider_name: "p" }] } } }] }, "f.typed_config.rules[0].requires.requires_any.requirements"],
  ["unknown requirement_name", { providers: { p: provider }, rules: [{ match: { prefix: "/" }, requirement_name: "nope" }] }, "f.typed_config.rules[0].requirement_name"],
  ["rule match on query parameters", { providers: { p: provider }, rules: [{ match: { prefix: "/", query_parameters: [] } }] }, "f.typed_config.rules[0].match.query_parameters"],
  ["JWKS from a file", { providers: { p: { issuer: "x", local_jwks: { filename: "/etc/jwks.json" } } } }, "f.typed_config.providers.p.local_jwks.filename"],
  ["a provider without keys", { providers: { p: { issuer: "x" } } }, "f.typed_config.providers.p"],
  ["not a JWKS", { providers: { p: { issuer: "x", local_jwks: { inline_string: "{}" } } } }, "f.typed_config.providers.p.local_jwks"],
  ["remote JWKS with a non-http URI", { providers: { p: { issuer: "x", remote_jwks: { http_uri: { uri: "file:///x", cluster: "c", timeout: "1s" } } } } }, "f.typed_config.providers.p.remote_jwks.http_uri.uri"],
  ["remote JWKS retry_policy", { providers: { p: { issuer: "x", remote_jwks: { http_uri: { uri: "http://127.0.0.1:1/", cluster: "c", timeout: "1s" }, retry_policy: {} } } } }, "f.typed_config.providers.p.remote_jwks.retry_policy"],
  ["subjects", { providers: { p: { ...provider, subjects: { prefix: "x" } } } }, "f.typed_config.providers.p.subjects"],
  ["filter_state_rules", { providers: { p: provider }, filter_state_rules: {} }, "f.typed_config.filter_state_rules"],
];

for (const [name, config, path] of badConfigs) {
  test(`jwt_authn config error: ${name} names ${path}`, () => {
    assert.throws(
      () => createHttpFilter({ name: "envoy.filters.http.jwt_authn", typed_config: { "@type": JWT, ...config } }, "f"),
      (err: unknown) => err instanceof ConfigError && err.path === path,
    );
  });
}

test("per-route configs are validated at RDS time", () => {
  const PER_ROUTE = "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.PerRouteConfig";
  validatePerFilterConfig({ "@type": PER_ROUTE, disabled: true }, "vh.typed_per_filter_config.jwt");
  validatePerFilterConfig({ "@type": PER_ROUTE, requirement_name: "r" }, "vh.typed_per_filter_config.jwt");
  assert.throws(() => validatePerFilterConfig({ "@type": PER_ROUTE }, "vh.typed_per_filter_config.jwt"), (e: unknown) => e instanceof ConfigError && /needs disabled or requirement_name/.test(e.reason));
  const RBAC_PER_ROUTE = "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBACPerRoute";
  validatePerFilterConfig({ "@type": RBAC_PER_ROUTE }, "r");
  assert.throws(
    () => validatePerFilterConfig({ "@type": RBAC_PER_ROUTE, rbac: { rules: { policies: { p: { permissions: [{ any: true }], principals: [{ bogus: true }] } } } } }, "r"),
    (e: unknown) => e instanceof ConfigError && e.path === "r.rbac.rules.policies.p.principals[0].bogus",
  );
});
