// The RBAC engine's semantics, table-driven: every permission and principal kind,
// and/or/not nesting, ALLOW/DENY/LOG, and config errors (the NACK path).
import { test } from "node:test";
import assert from "node:assert/strict";
import { RbacEngine } from "../../../src/proxy/filters/rbac-engine.ts";
import type { RbacInput } from "../../../src/proxy/filters/rbac-matchers.ts";
import { ConfigError } from "../../../src/proxy/json.ts";

type Json = Record<string, unknown>;

function input(over: Partial<Omit<RbacInput, "header">> & { headers?: Record<string, string> } = {}): RbacInput {
  const headers: Record<string, string> = { ":method": "GET", ":authority": "shop.example:8080", ":path": "/items/7?x=1", ":scheme": "http", ...over.headers };
  return {
    header: (n) => headers[n],
    path: "/items/7",
    directRemoteIp: "10.0.0.5",
    remoteIp: "192.168.1.20",
    destinationIp: "10.1.2.3",
    destinationPort: 8080,
    peerPrincipal: "spiffe://cluster.local/ns/shop/sa/frontend",
    requestedServerName: "outbound_.8080_._.shop.svc.cluster.local",
    metadata: undefined,
    ...over,
  };
}

/** An ALLOW engine with one policy; `match` says whether the request is allowed. */
function allowsWith(perm: Json, principal: Json, inp: RbacInput): boolean {
  return RbacEngine.compile({ action: "ALLOW", policies: { p: { permissions: [perm], principals: [principal] } } }, "rules").decide(inp).allowed;
}

const any = { any: true };

const permissionCases: Array<[string, Json, RbacInput, boolean]> = [
  ["any", any, input(), true],
  ["header exact :method", { header: { name: ":method", string_match: { exact: "GET" } } }, input(), true],
  ["header exact :method (POST)", { header: { name: ":method", string_match: { exact: "GET" } } }, input({ headers: { ":method": "POST" } }), false],
  ["header prefix", { header: { name: "x-user", string_match: { prefix: "ja" } } }, input({ headers: { "x-user": "jason" } }), true],
  ["header suffix", { header: { name: "x-user", string_match: { suffix: "on" } } }, input({ headers: { "x-user": "jason" } }), true],
  ["header contains", { header: { name: "x-user", string_match: { contains: "so" } } }, input({ headers: { "x-user": "jason" } }), true],
  ["header contains (no)", { header: { name: "x-user", string_match: { contains: "zz" } } }, input({ headers: { "x-user": "jason" } }), false],
  ["header safe_regex (RE2)", { header: { name: "x-user", string_match: { safe_regex: { regex: "j[a-z]+n" } } } }, input({ headers: { "x-user": "jason" } }), true],
  ["header safe_regex is a full match", { header: { name: "x-user", string_match: { safe_regex: { regex: "j[a-z]" } } } }, input({ headers: { "x-user": "jason" } }), false],
  ["header ignore_case", { header: { name: ":authority", string_match: { exact: "SHOP.example:8080", ignore_case: true } } }, input(), true],
  ["header present_match", { header: { name: "x-token", present_match: true } }, input({ headers: { "x-token": "1" } }), true],
  ["header present_match (absent)", { header: { name: "x-token", present_match: true } }, input(), false],
  ["header invert_match on absent header", { header: { name: "x-token", present_match: true, invert_match: true } }, input(), true],
  ["header invert_match of exact", { header: { name: ":method", string_match: { exact: "GET" }, invert_match: true } }, input(), false],
  ["url_path exact ignores the query", { url_path: { path: { exact: "/items/7" } } }, input(), true],
  ["url_path prefix", { url_path: { path: { prefix: "/items/" } } }, input(), true],
  ["url_path ignore_case", { url_path: { path: { exact: "/ITEMS/7", ignore_case: true } } }, input(), true],
  ["url_path on TCP never matches", { url_path: { path: { prefix: "/" } } }, input({ path: undefined }), false],
  ["destination_ip in CIDR", { destination_ip: { address_prefix: "10.1.0.0", prefix_len: 16 } }, input(), true],
  ["destination_ip outside CIDR", { destination_ip: { address_prefix: "10.2.0.0", prefix_len: 16 } }, input(), false],
  ["destination_ip /32", { destination_ip: { address_prefix: "10.1.2.3", prefix_len: 32 } }, input(), true],
  ["destination_ip v6 CIDR vs v4 address", { destination_ip: { address_prefix: "::", prefix_len: 0 } }, input(), false],
  ["destination_ip v6", { destination_ip: { address_prefix: "fd00::", prefix_len: 8 } }, input({ destinationIp: "fd00::1" }), true],
  ["destination_port", { destination_port: 8080 }, input(), true],
  ["destination_port (other)", { destination_port: 9090 }, input(), false],
  ["destination_port_range includes start", { destination_port_range: { start: 8080, end: 8081 } }, input(), true],
  ["destination_port_range excludes end", { destination_port_range: { start: 8000, end: 8080 } }, input(), false],
  ["requested_server_name suffix", { requested_server_name: { suffix: ".svc.cluster.local" } }, input(), true],
  ["requested_server_name exact (other)", { requested_server_name: { exact: "other" } }, input(), false],
  ["metadata string", { metadata: { filter: "f", path: [{ key: "k" }], value: { string_match: { exact: "v" } } } }, input({ metadata: { f: { k: "v" } } }), true],
  ["metadata missing", { metadata: { filter: "f", path: [{ key: "k" }], value: { string_match: { exact: "v" } } } }, input(), false],
  ["metadata invert on missing", { metadata: { filter: "f", path: [{ key: "k" }], value: { string_match: { exact: "v" } }, invert: true } }, input(), true],
  ["and_rules all match", { and_rules: { rules: [{ destination_port: 8080 }, { url_path: { path: { prefix: "/items" } } }] } }, input(), true],
  ["and_rules one fails", { and_rules: { rules: [{ destination_port: 8080 }, { url_path: { path: { prefix: "/admin" } } }] } }, input(), false],
  ["or_rules one matches", { or_rules: { rules: [{ destination_port: 1 }, { url_path: { path: { prefix: "/items" } } }] } }, input(), true],
  ["or_rules none matches", { or_rules: { rules: [{ destination_port: 1 }, { destination_port: 2 }] } }, input(), false],
  ["not_rule", { not_rule: { destination_port: 1 } }, input(), true],
  ["not_rule of a match", { not_rule: { destination_port: 8080 } }, input(), false],
  [
    "nested and(or(..), not(..))",
    { and_rules: { rules: [{ or_rules: { rules: [{ header: { name: ":method", string_match: { exact: "POST" } } }, { header: { name: ":method", string_match: { exact: "GET" } } }] } }, { not_rule: { url_path: { path: { prefix: "/admin" } } } }] } },
    input(),
    true,
  ],
];

for (const [name, perm, inp, want] of permissionCases) {
  test(`permission ${name} → ${want ? "match" : "no match"}`, () => {
    assert.equal(allowsWith(perm, any, inp), want);
  });
}

const principalCases: Array<[string, Json, RbacInput, boolean]> = [
  ["any", any, input(), true],
  ["authenticated exact SPIFFE id", { authenticated: { principal_name: { exact: "spiffe://cluster.local/ns/shop/sa/frontend" } } }, input(), true],
  ["authenticated other id", { authenticated: { principal_name: { exact: "spiffe://cluster.local/ns/shop/sa/other" } } }, input(), false],
  ["authenticated namespace regex (Istio's namespaces)", { authenticated: { principal_name: { safe_regex: { regex: ".*/ns/shop/.*" } } } }, input(), true],
  ["authenticated namespace regex, other namespace", { authenticated: { principal_name: { safe_regex: { regex: ".*/ns/shop/.*" } } } }, input({ peerPrincipal: "spiffe://cluster.local/ns/shopping/sa/x" }), false],
  ["authenticated regex with escaped dot", { authenticated: { principal_name: { safe_regex: { regex: ".*cluster\\.local/ns/shop/.*" } } } }, input(), true],
  ["authenticated regex escaped dot is literal", { authenticated: { principal_name: { safe_regex: { regex: ".*cluster\\.local/ns/shop/.*" } } } }, input({ peerPrincipal: "spiffe://clusterXlocal/ns/shop/sa/a" }), false],
  ["authenticated regex: RE2 . does not match a newline", { authenticated: { principal_name: { safe_regex: { regex: ".*/ns/shop/.*" } } } }, input({ peerPrincipal: "spiffe://x\n/ns/shop/sa/a" }), false],
  ["authenticated regex with operators", { authenticated: { principal_name: { safe_regex: { regex: ".*/ns/sho+p/.*" } } } }, input({ peerPrincipal: "spiffe://cluster.local/ns/shooop/sa/a" }), true],
  ["authenticated without name: any mTLS peer", { authenticated: {} }, input(), true],
  ["authenticated on plaintext", { authenticated: {} }, input({ peerPrincipal: "" }), false],
  ["authenticated prefix on plaintext", { authenticated: { principal_name: { prefix: "" } } }, input({ peerPrincipal: "" }), false],
  ["direct_remote_ip", { direct_remote_ip: { address_prefix: "10.0.0.0", prefix_len: 24 } }, input(), true],
  ["direct_remote_ip does not see XFF", { direct_remote_ip: { address_prefix: "192.168.1.0", prefix_len: 24 } }, input(), false],
  ["source_ip (deprecated) is the socket peer", { source_ip: { address_prefix: "10.0.0.5", prefix_len: 32 } }, input(), true],
  ["remote_ip is the XFF client", { remote_ip: { address_prefix: "192.168.1.0", prefix_len: 24 } }, input(), true],
  ["remote_ip outside", { remote_ip: { address_prefix: "10.0.0.0", prefix_len: 8 } }, input(), false],
  ["remote_ip IPv4-mapped v6 address", { remote_ip: { address_prefix: "192.168.1.0", prefix_len: 24 } }, input({ remoteIp: "::ffff:192.168.1.9" }), true],
  ["header", { header: { name: "x-user", string_match: { exact: "jason" } } }, input({ headers: { "x-user": "jason" } }), true],
  ["url_path", { url_path: { path: { suffix: "/7" } } }, input(), true],
  [
    "metadata request principal (iss/sub)",
    { metadata: { filter: "istio_authn", path: [{ key: "request.auth.principal" }], value: { string_match: { exact: "https://idp/alice" } } } },
    input({ metadata: { istio_authn: { "request.auth.principal": "https://idp/alice" } } }),
    true,
  ],
  [
    "metadata claim list_match (any element)",
    { metadata: { filter: "envoy.filters.http.jwt_authn", path: [{ key: "p" }, { key: "groups" }], value: { list_match: { one_of: { string_match: { exact: "admin" } } } } } },
    input({ metadata: { "envoy.filters.http.jwt_authn": { p: { groups: ["dev", "admin"] } } } }),
    true,
  ],
  [
    "metadata claim list_match on a plain string",
    { metadata: { filter: "envoy.filters.http.jwt_authn", path: [{ key: "p" }, { key: "groups" }], value: { list_match: { one_of: { string_match: { exact: "admin" } } } } } },
    input({ metadata: { "envoy.filters.http.jwt_authn": { p: { groups: "admin" } } } }),
    false,
  ],
  [
    "metadata or_match: list or string",
    { metadata: { filter: "f", path: [{ key: "p" }, { key: "group" }], value: { or_match: { value_matchers: [{ list_match: { one_of: { string_match: { exact: "moderator" } } } }, { string_match: { exact: "moderator" } }] } } } },
    input({ metadata: { f: { p: { group: "moderator" } } } }),
    true,
  ],
  ["metadata nested claim", { metadata: { filter: "f", path: [{ key: "p" }, { key: "a" }, { key: "b" }], value: { string_match: { exact: "x" } } } }, input({ metadata: { f: { p: { a: { b: "x" } } } } }), true],
  ["metadata bool_match", { metadata: { filter: "f", path: [{ key: "b" }], value: { bool_match: true } } }, input({ metadata: { f: { b: true } } }), true],
  ["metadata double_match range", { metadata: { filter: "f", path: [{ key: "n" }], value: { double_match: { range: { start: 1, end: 5 } } } } }, input({ metadata: { f: { n: 4.5 } } }), true],
  ["metadata double_match exact", { metadata: { filter: "f", path: [{ key: "n" }], value: { double_match: { exact: 3 } } } }, input({ metadata: { f: { n: 4 } } }), false],
  ["metadata null_match", { metadata: { filter: "f", path: [{ key: "n" }], value: { null_match: {} } } }, input({ metadata: { f: { n: null } } }), true],
  ["metadata present_match", { metadata: { filter: "f", path: [{ key: "n" }], value: { present_match: true } } }, input({ metadata: { f: { n: 0 } } }), true],
  ["metadata present_match absent", { metadata: { filter: "f", path: [{ key: "n" }], value: { present_match: true } } }, input({ metadata: { f: {} } }), false],
  ["and_ids", { and_ids: { ids: [{ direct_remote_ip: { address_prefix: "10.0.0.0", prefix_len: 8 } }, { authenticated: {} }] } }, input(), true],
  ["and_ids one fails", { and_ids: { ids: [{ direct_remote_ip: { address_prefix: "10.0.0.0", prefix_len: 8 } }, { authenticated: {} }] } }, input({ peerPrincipal: "" }), false],
  ["or_ids", { or_ids: { ids: [{ authenticated: {} }, { direct_remote_ip: { address_prefix: "10.0.0.0", prefix_len: 8 } }] } }, input({ peerPrincipal: "" }), true],
  ["not_id (Istio's notPrincipals)", { not_id: { authenticated: { principal_name: { exact: "spiffe://cluster.local/ns/shop/sa/frontend" } } } }, input(), false],
  ["not_id on another peer", { not_id: { authenticated: { principal_name: { exact: "spiffe://cluster.local/ns/shop/sa/frontend" } } } }, input({ peerPrincipal: "spiffe://cluster.local/ns/x/sa/y" }), true],
];

for (const [name, principal, inp, want] of principalCases) {
  test(`principal ${name} → ${want ? "match" : "no match"}`, () => {
    assert.equal(allowsWith(any, principal, inp), want);
  });
}

test("a policy needs ANY permission AND ANY principal", () => {
  const engine = RbacEngine.compile(
    {
      action: "ALLOW",
      policies: {
        p: { permissions: [{ destination_port: 1 }, { destination_port: 8080 }], principals: [{ remote_ip: { address_prefix: "1.1.1.1", prefix_len: 32 } }, { authenticated: {} }] },
      },
    },
    "rules",
  );
  assert.equal(engine.decide(input()).allowed, true);
  assert.equal(engine.decide(input({ peerPrincipal: "" })).allowed, false, "no principal matches");
  assert.equal(engine.decide(input({ destinationPort: 2 })).allowed, false, "no permission matches");
});

test("actions: ALLOW denies unmatched, DENY denies matched, LOG allows all; empty policies", () => {
  const policies = { "b-second": { permissions: [any], principals: [any] }, "a-first": { permissions: [{ destination_port: 8080 }], principals: [any] } };
  const allow = RbacEngine.compile({ action: "ALLOW", policies }, "r");
  assert.deepEqual(allow.decide(input()), { allowed: true, matchedPolicy: "a-first" }, "policies are tried in name order");
  const deny = RbacEngine.compile({ action: "DENY", policies }, "r");
  assert.deepEqual(deny.decide(input()), { allowed: false, matchedPolicy: "a-first" });
  const log = RbacEngine.compile({ action: "LOG", policies }, "r");
  assert.deepEqual(log.decide(input()), { allowed: true, matchedPolicy: "a-first" });
  assert.equal(RbacEngine.compile({ action: "ALLOW", policies: {} }, "r").decide(input()).allowed, false, "ALLOW with no policy denies all");
  assert.equal(RbacEngine.compile({ action: "DENY" }, "r").decide(input()).allowed, true, "DENY with no policy allows all");
  assert.equal(RbacEngine.compile({}, "r").action, "ALLOW", "action defaults to ALLOW");
});

const badConfigs: Array<[string, Json, string]> = [
  ["unknown RBAC field", { action: "ALLOW", audit_logging_options: {} }, "rules.audit_logging_options"],
  ["CEL condition", { policies: { p: { permissions: [any], principals: [any], condition: {} } } }, "rules.policies.p.condition"],
  ["unknown permission kind", { policies: { p: { permissions: [{ uri_template: {} }], principals: [any] } } }, "rules.policies.p.permissions[0].uri_template"],
  ["two kinds in one permission", { policies: { p: { permissions: [{ any: true, destination_port: 1 }], principals: [any] } } }, "rules.policies.p.permissions[0]"],
  ["unknown principal kind", { policies: { p: { permissions: [any], principals: [{ filter_state: {} }] } } }, "rules.policies.p.principals[0].filter_state"],
  ["bad CIDR", { policies: { p: { permissions: [any], principals: [{ remote_ip: { address_prefix: "nope", prefix_len: 8 } }] } } }, "rules.policies.p.principals[0].remote_ip.address_prefix"],
  ["bad RE2", { policies: { p: { permissions: [{ url_path: { path: { safe_regex: { regex: "(" } } } }], principals: [any] } } }, "rules.policies.p.permissions[0].url_path.path.safe_regex.regex"],
  ["no principals", { policies: { p: { permissions: [any] } } }, "rules.policies.p.principals"],
  ["unknown action", { action: "CUSTOM" }, "rules.action"],
  ["empty and_rules", { policies: { p: { permissions: [{ and_rules: { rules: [] } }], principals: [any] } } }, "rules.policies.p.permissions[0].and_rules.rules"],
  ["metadata without filter", { policies: { p: { permissions: [any], principals: [{ metadata: { path: [{ key: "a" }], value: { present_match: true } } }] } } }, "rules.policies.p.principals[0].metadata.filter"],
];

for (const [name, rules, path] of badConfigs) {
  test(`config error: ${name} names ${path}`, () => {
    assert.throws(
      () => RbacEngine.compile(rules, "rules"),
      (err: unknown) => err instanceof ConfigError && err.path === path,
    );
  });
}
