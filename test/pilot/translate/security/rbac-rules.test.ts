// Table-driven tests of the AuthorizationPolicy rule → RBAC policy translation: each row
// is a rule and requests it must or must not match, judged by Envoy's RBAC semantics
// (rbac-eval.ts). Covers every from/to field, its not* form and every condition key.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { AuthorizationRule } from "../../../../src/api/kinds.ts";
import { rulePolicy } from "../../../../src/pilot/translate/security/index.ts";
import type { RbacAction } from "../../../../src/pilot/translate/security/rbac-rules.ts";
import { policyMatches, type Request } from "./rbac-eval.ts";

const TD = "cluster.local";
const id = (ns: string, sa: string): string => `spiffe://${TD}/ns/${ns}/sa/${sa}`;

/** A plain HTTP GET / from productpage in default, unless overridden. */
function req(over: Partial<Request> & { method?: string; host?: string; extraHeaders?: Record<string, string> } = {}): Request {
  const { method, host, extraHeaders, ...rest } = over;
  return {
    headers: { ":method": method ?? "GET", ":authority": host ?? "reviews:9080", ...(extraHeaders ?? {}) },
    path: "/",
    principal: id("default", "productpage"),
    sourceIp: "10.0.0.7",
    destinationIp: "10.0.0.5",
    destinationPort: 8080,
    sni: "",
    ...rest,
  };
}

function jwt(claims: Record<string, unknown>): Request["metadata"] {
  const authn: Record<string, unknown> = { "request.auth.claims": claims };
  if (claims.iss && claims.sub) authn["request.auth.principal"] = `${String(claims.iss)}/${String(claims.sub)}`;
  if (claims.aud) authn["request.auth.audiences"] = claims.aud;
  if (claims.azp) authn["request.auth.presenter"] = (claims.azp as string[])[0];
  return { istio_authn: authn };
}

interface Row {
  name: string;
  rule: AuthorizationRule;
  matches: Request[];
  misses: Request[];
}

const rows: Row[] = [
  { name: "empty rule matches everything", rule: {}, matches: [req(), req({ principal: "" })], misses: [] },
  {
    name: "principals: exact, prefix, suffix",
    rule: { from: [{ source: { principals: [`${TD}/ns/default/sa/productpage`, `${TD}/ns/test/*`, "*/sa/admin"] } }] },
    matches: [req(), req({ principal: id("test", "x") }), req({ principal: id("prod", "admin") })],
    misses: [req({ principal: id("default", "other") }), req({ principal: "" })],
  },
  {
    name: "principals * needs any authenticated peer",
    rule: { from: [{ source: { principals: ["*"] } }] },
    matches: [req()],
    misses: [req({ principal: "" })],
  },
  {
    name: "notPrincipals",
    rule: { from: [{ source: { notPrincipals: [`${TD}/ns/default/sa/productpage`] } }] },
    matches: [req({ principal: id("default", "other") })],
    misses: [req()],
  },
  {
    name: "requestPrincipals exact and *",
    rule: { from: [{ source: { requestPrincipals: ["https://idp/alice"] } }] },
    matches: [req({ metadata: jwt({ iss: "https://idp", sub: "alice" }) })],
    misses: [req({ metadata: jwt({ iss: "https://idp", sub: "bob" }) }), req()],
  },
  {
    name: "requestPrincipals * means any token",
    rule: { from: [{ source: { requestPrincipals: ["*"] } }] },
    matches: [req({ metadata: jwt({ iss: "a", sub: "b" }) })],
    misses: [req()],
  },
  {
    name: "notRequestPrincipals * means no token",
    rule: { from: [{ source: { notRequestPrincipals: ["*"] } }] },
    matches: [req()],
    misses: [req({ metadata: jwt({ iss: "a", sub: "b" }) })],
  },
  {
    name: "namespaces with * forms",
    rule: { from: [{ source: { namespaces: ["prod", "team-*", "*-test"] } }] },
    matches: [req({ principal: id("prod", "x") }), req({ principal: id("team-a", "x") }), req({ principal: id("a-test", "x") })],
    misses: [req({ principal: id("production", "x") }), req({ principal: id("default", "prod") }), req({ principal: "" })],
  },
  {
    name: "notNamespaces",
    rule: { from: [{ source: { notNamespaces: ["default"] } }] },
    matches: [req({ principal: id("prod", "x") })],
    misses: [req()],
  },
  {
    name: "ipBlocks and notIpBlocks (peer address)",
    rule: { from: [{ source: { ipBlocks: ["10.0.0.0/16"], notIpBlocks: ["10.0.0.7"] } }] },
    matches: [req({ sourceIp: "10.0.3.3" })],
    misses: [req(), req({ sourceIp: "10.1.0.1" })],
  },
  {
    name: "remoteIpBlocks and notRemoteIpBlocks (client address)",
    rule: { from: [{ source: { remoteIpBlocks: ["203.0.113.0/24"], notRemoteIpBlocks: ["203.0.113.9"] } }] },
    matches: [req({ remoteIp: "203.0.113.1" })],
    misses: [req({ remoteIp: "203.0.113.9" }), req({ remoteIp: "198.51.100.1" })],
  },
  {
    name: "serviceAccounts and notServiceAccounts",
    rule: { from: [{ source: { serviceAccounts: ["productpage", "prod/api"], notServiceAccounts: ["prod/api"] } }] },
    matches: [req()],
    misses: [req({ principal: id("prod", "api") }), req({ principal: id("other", "productpage") })],
  },
  {
    name: "two sources are ORed, fields in one source ANDed",
    rule: { from: [{ source: { namespaces: ["prod"], principals: [`${TD}/ns/prod/sa/api`] } }, { source: { ipBlocks: ["10.9.0.0/16"] } }] },
    matches: [req({ principal: id("prod", "api") }), req({ sourceIp: "10.9.1.1" })],
    misses: [req({ principal: id("prod", "web") })],
  },
  {
    name: "hosts: exact with or without port, case-insensitive; suffix and prefix forms",
    rule: { to: [{ operation: { hosts: ["reviews.example.com", "*.bookinfo.com", "api.*"] } }] },
    matches: [
      req({ host: "reviews.example.com" }),
      req({ host: "Reviews.Example.com:8080" }),
      req({ host: "a.bookinfo.com" }),
      req({ host: "a.bookinfo.com:80" }),
      req({ host: "api.internal" }),
    ],
    misses: [req({ host: "reviews.example.com.evil" }), req({ host: "bookinfo.com" })],
  },
  {
    name: "notHosts",
    rule: { to: [{ operation: { notHosts: ["internal.example.com"] } }] },
    matches: [req({ host: "public.example.com" })],
    misses: [req({ host: "internal.example.com:443" })],
  },
  {
    name: "ports and notPorts",
    rule: { to: [{ operation: { ports: ["8080", "9090"], notPorts: ["9090"] } }] },
    matches: [req()],
    misses: [req({ destinationPort: 9090 }), req({ destinationPort: 7000 })],
  },
  {
    name: "methods and notMethods",
    rule: { to: [{ operation: { methods: ["GET", "POST"], notMethods: ["POST"] } }] },
    matches: [req()],
    misses: [req({ method: "POST" }), req({ method: "DELETE" })],
  },
  {
    name: "paths: exact, prefix *, suffix *, and notPaths",
    rule: { to: [{ operation: { paths: ["/reviews", "/api/*", "*.json"], notPaths: ["/api/admin*"] } }] },
    matches: [req({ path: "/reviews" }), req({ path: "/api/v1" }), req({ path: "/x/data.json" })],
    misses: [req({ path: "/reviews/1" }), req({ path: "/api/admin/users" }), req({ path: "/" })],
  },
  {
    name: "paths * matches any path",
    rule: { to: [{ operation: { paths: ["*"] } }] },
    matches: [req({ path: "/" }), req({ path: "/a/b" })],
    misses: [],
  },
  {
    name: "two operations are ORed",
    rule: { to: [{ operation: { methods: ["GET"], paths: ["/"] } }, { operation: { methods: ["POST"], paths: ["/feedback"] } }] },
    matches: [req(), req({ method: "POST", path: "/feedback" })],
    misses: [req({ method: "POST", path: "/" })],
  },
  {
    name: "from, to and when must all hold",
    rule: {
      from: [{ source: { namespaces: ["default"] } }],
      to: [{ operation: { methods: ["GET"] } }],
      when: [{ key: "request.headers[x-env]", values: ["prod"] }],
    },
    matches: [req({ extraHeaders: { "x-env": "prod" } })],
    misses: [req(), req({ method: "PUT", extraHeaders: { "x-env": "prod" } }), req({ principal: id("prod", "x"), extraHeaders: { "x-env": "prod" } })],
  },
  {
    name: "when request.headers[] values and notValues (names lower-cased)",
    rule: { when: [{ key: "request.headers[X-Version]", values: ["v1", "beta*"], notValues: ["beta-broken"] }] },
    matches: [req({ extraHeaders: { "x-version": "v1" } }), req({ extraHeaders: { "x-version": "beta2" } })],
    misses: [req(), req({ extraHeaders: { "x-version": "beta-broken" } }), req({ extraHeaders: { "x-version": "v2" } })],
  },
  {
    name: "when request.headers[] * means present",
    rule: { when: [{ key: "request.headers[x-token]", values: ["*"] }] },
    matches: [req({ extraHeaders: { "x-token": "" } })],
    misses: [req()],
  },
  {
    name: "when source.ip",
    rule: { when: [{ key: "source.ip", values: ["10.0.0.0/24"] }] },
    matches: [req()],
    misses: [req({ sourceIp: "10.0.1.7" })],
  },
  {
    name: "when remote.ip notValues",
    rule: { when: [{ key: "remote.ip", notValues: ["203.0.113.9"] }] },
    matches: [req({ remoteIp: "203.0.113.8" })],
    misses: [req({ remoteIp: "203.0.113.9" })],
  },
  {
    name: "when source.namespace",
    rule: { when: [{ key: "source.namespace", values: ["default"] }] },
    matches: [req()],
    misses: [req({ principal: id("prod", "productpage") })],
  },
  {
    name: "when source.principal",
    rule: { when: [{ key: "source.principal", values: [`${TD}/ns/default/sa/productpage`] }] },
    matches: [req()],
    misses: [req({ principal: id("default", "x") })],
  },
  {
    name: "when request.auth.principal",
    rule: { when: [{ key: "request.auth.principal", values: ["idp/alice"] }] },
    matches: [req({ metadata: jwt({ iss: "idp", sub: "alice" }) })],
    misses: [req({ metadata: jwt({ iss: "idp", sub: "bob" }) })],
  },
  {
    name: "when request.auth.audiences (one of the token's audiences)",
    rule: { when: [{ key: "request.auth.audiences", values: ["bookinfo"] }] },
    matches: [req({ metadata: jwt({ aud: ["web", "bookinfo"] }) })],
    misses: [req({ metadata: jwt({ aud: ["web"] }) }), req()],
  },
  {
    name: "when request.auth.presenter",
    rule: { when: [{ key: "request.auth.presenter", values: ["frontend"] }] },
    matches: [req({ metadata: jwt({ azp: ["frontend"] }) })],
    misses: [req({ metadata: jwt({ azp: ["cli"] }) })],
  },
  {
    name: "when request.auth.claims[] (list claim, one element matches)",
    rule: { when: [{ key: "request.auth.claims[group]", values: ["moderator"] }] },
    matches: [req({ metadata: jwt({ group: ["users", "moderator"] }) })],
    misses: [req({ metadata: jwt({ group: ["users"] }) }), req()],
  },
  {
    name: "when request.auth.claims[][] nested",
    rule: { when: [{ key: "request.auth.claims[realm_access][roles]", notValues: ["banned"] }] },
    matches: [req({ metadata: jwt({ realm_access: { roles: ["admin"] } }) })],
    misses: [req({ metadata: jwt({ realm_access: { roles: ["admin", "banned"] } }) })],
  },
  {
    name: "when destination.ip",
    rule: { when: [{ key: "destination.ip", values: ["10.0.0.5"] }] },
    matches: [req()],
    misses: [req({ destinationIp: "10.0.0.6" })],
  },
  {
    name: "when destination.port",
    rule: { when: [{ key: "destination.port", values: ["8080"] }] },
    matches: [req()],
    misses: [req({ destinationPort: 8081 })],
  },
  {
    name: "when connection.sni",
    rule: { when: [{ key: "connection.sni", values: ["*.example.com"] }] },
    matches: [req({ sni: "a.example.com" })],
    misses: [req({ sni: "a.example.org" })],
  },
  {
    name: "when experimental.envoy.filters.*",
    rule: { when: [{ key: "experimental.envoy.filters.network.mysql_proxy[db.table]", values: ["[update]"] }] },
    matches: [req({ metadata: { "envoy.filters.network.mysql_proxy": { "db.table": ["[update]"] } } })],
    misses: [req()],
  },
  {
    name: "unknown condition key matches nothing (fail closed)",
    rule: { when: [{ key: "request.colour", values: ["blue"] }] },
    matches: [],
    misses: [req()],
  },
];

const problems: string[] = [];
const ctx = (action: RbacAction = "ALLOW", forTcp = false) => ({
  namespace: "default",
  trustDomain: TD,
  forTcp,
  action,
  report: (path: string, message: string) => problems.push(`${path}: ${message}`),
});

function policyOf(rule: AuthorizationRule, action: RbacAction = "ALLOW", forTcp = false): Record<string, unknown> {
  const out = rulePolicy(rule, ctx(action, forTcp));
  assert.ok("policy" in out, `rule was dropped: ${JSON.stringify(out)}`);
  return out.policy;
}

for (const row of rows) {
  test(`rule: ${row.name}`, () => {
    const policy = policyOf(row.rule);
    row.matches.forEach((r, i) => assert.ok(policyMatches(policy, r), `request ${i} should match: ${JSON.stringify(r)}`));
    row.misses.forEach((r, i) => assert.ok(!policyMatches(policy, r), `request ${i} should not match: ${JSON.stringify(r)}`));
  });
}

test("an unknown condition key and an invalid CIDR are reported with the field path", () => {
  problems.length = 0;
  policyOf({ when: [{ key: "request.colour", values: ["blue"] }] });
  policyOf({ from: [{ source: { ipBlocks: ["10.0.0.0/99"] } }] });
  assert.deepEqual(
    problems.map((p) => p.split(":")[0]),
    ["when[0].key", "from[0].source.ipBlocks[0]"],
  );
});

test("an invalid CIDR makes its field match nothing rather than everything", () => {
  const policy = policyOf({ from: [{ source: { ipBlocks: ["not-an-ip"] } }] });
  assert.ok(!policyMatches(policy, req()));
});

test("TCP: an ALLOW rule with HTTP-only fields is dropped; one without is kept", () => {
  for (const rule of [
    { to: [{ operation: { methods: ["GET"] } }] },
    { to: [{ operation: { paths: ["/"] } }] },
    { to: [{ operation: { hosts: ["a"] } }] },
    { from: [{ source: { requestPrincipals: ["*"] } }] },
    { when: [{ key: "request.headers[x]", values: ["y"] }] },
    { when: [{ key: "request.auth.claims[group]", values: ["y"] }] },
  ] as AuthorizationRule[]) {
    assert.ok("dropped" in rulePolicy(rule, ctx("ALLOW", true)), JSON.stringify(rule));
  }
  assert.ok("policy" in rulePolicy({ to: [{ operation: { ports: ["7000"] } }] }, ctx("ALLOW", true)));
});

test("TCP: a DENY rule ignores its HTTP-only fields, so it denies more", () => {
  const out = rulePolicy(
    { from: [{ source: { namespaces: ["legacy"] } }], to: [{ operation: { methods: ["POST"], ports: ["7000"] } }] },
    ctx("DENY", true),
  );
  assert.ok("policy" in out);
  const tcp = { principal: id("legacy", "x"), sourceIp: "10.0.0.9", destinationIp: "10.0.0.5", destinationPort: 7000 };
  assert.ok(policyMatches(out.policy, tcp), "any connection from legacy to 7000 is denied");
  assert.ok(!policyMatches(out.policy, { ...tcp, destinationPort: 7001 }));
  assert.ok(!policyMatches(out.policy, { ...tcp, principal: id("default", "x") }));
});
