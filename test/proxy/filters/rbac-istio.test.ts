// AuthorizationPolicy YAML → the control plane's RBAC builder → the proxy's RBAC engine:
// what each from/to field, its not* form, and each `when` condition key lets through,
// as an Istio user would state it. The JWT metadata is what jwt_authn leaves behind.
import { test } from "node:test";
import assert from "node:assert/strict";
import { loadText } from "../../../src/api/index.ts";
import { buildRegistry } from "../../../src/registry/index.ts";
import { buildPushContext, defaultMeshConfig, proxyView, type ProxyNode, type TranslationProblem } from "../../../src/pilot/translate/index.ts";
import { proxySecurity } from "../../../src/pilot/translate/security/index.ts";
import { RbacEngine } from "../../../src/proxy/filters/rbac-engine.ts";
import type { RbacInput } from "../../../src/proxy/filters/rbac-matchers.ts";
import { istioAuthnMetadata } from "../../../src/proxy/filters/jwt-authn.ts";

type Json = Record<string, unknown>;

function securityFor(yaml: string): { http: Json[]; tcp: Json[]; problems: TranslationProblem[] } {
  const { resources, diagnostics } = loadText(yaml, "policy.yaml");
  assert.deepEqual(diagnostics.filter((d) => d.severity === "error"), [], "the YAML is valid");
  const registry = buildRegistry(resources, { domain: defaultMeshConfig.domain, version: 1 });
  const snapshot = { config: resources, registry, mesh: defaultMeshConfig, version: 1 };
  const node: ProxyNode = {
    id: "sidecar~10.0.0.5~w.default~default.svc.cluster.local",
    type: "sidecar",
    ipAddresses: ["10.0.0.5"],
    podName: "w.default",
    namespace: "default",
    labels: { app: "shop" },
    serviceAccount: "default",
    workloadName: "w",
    metadata: {},
  };
  const problems: TranslationProblem[] = [];
  const sec = proxySecurity(proxyView(buildPushContext(snapshot), node), problems);
  const httpProblems = [...problems]; // the TCP chain below reports its own (HTTP-only rules)
  const tcpChain = { filters: [{ name: "envoy.filters.network.tcp_proxy", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy", stat_prefix: "x", cluster: "x" } }] };
  const tcp = (sec.decorateChain(tcpChain, 8080, "tcp")[0].filters as Json[]).filter((f) => f.name === "envoy.filters.network.rbac");
  return { http: sec.httpFilters.filter((f) => String((f.typed_config as Json)["@type"]).endsWith("rbac.v3.RBAC")), tcp, problems: httpProblems };
}

/** Every enforcing filter in order must allow (LOG filters only record). */
function allowed(filters: Json[], input: RbacInput): boolean {
  for (const f of filters) {
    const engine = RbacEngine.compile((f.typed_config as Json).rules, "rules");
    if (!engine.decide(input).allowed) return false;
  }
  return true;
}

interface Req {
  headers?: Record<string, string>;
  path?: string;
  peer?: string;
  sourceIp?: string;
  remoteIp?: string;
  destIp?: string;
  destPort?: number;
  sni?: string;
  jwt?: Json | null;
}

const defaultJwt: Json = { iss: "https://idp.test", sub: "alice", aud: ["shop"], azp: "web", group: "admins", realm: { role: "boss" } };

function input(r: Req = {}): RbacInput {
  const headers: Record<string, string> = { ":method": "GET", ":authority": "shop.example", ":path": r.path ?? "/api/items", "x-user": "alice", ...r.headers };
  const jwt = r.jwt === undefined ? defaultJwt : r.jwt;
  return {
    header: (n) => headers[n],
    path: r.path ?? "/api/items",
    directRemoteIp: r.sourceIp ?? "10.1.2.3",
    remoteIp: r.remoteIp ?? r.sourceIp ?? "10.1.2.3",
    destinationIp: r.destIp ?? "10.0.0.5",
    destinationPort: r.destPort ?? 8080,
    peerPrincipal: r.peer ?? "spiffe://cluster.local/ns/foo/sa/bar",
    requestedServerName: r.sni ?? "outbound_.8080_._.shop.default.svc.cluster.local",
    metadata: jwt ? { istio_authn: istioAuthnMetadata(jwt) } : undefined,
  };
}

function policy(action: string, rules: Json[] | undefined, name = "p"): string {
  return `---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: ${name}, namespace: default}
spec:
  action: ${action}
${rules === undefined ? "" : `  rules: ${JSON.stringify(rules)}\n`}`;
}

// [name, rule, a request the rule matches, a request it does not match]
const ruleCases: Array<[string, Json, Req, Req]> = [
  ["from.principals", { from: [{ source: { principals: ["cluster.local/ns/foo/sa/bar"] } }] }, {}, { peer: "spiffe://cluster.local/ns/foo/sa/other" }],
  ["from.principals on plaintext", { from: [{ source: { principals: ["*"] } }] }, {}, { peer: "" }],
  ["from.notPrincipals", { from: [{ source: { notPrincipals: ["cluster.local/ns/foo/sa/bar"] } }] }, { peer: "spiffe://cluster.local/ns/x/sa/y" }, {}],
  ["from.requestPrincipals", { from: [{ source: { requestPrincipals: ["https://idp.test/alice"] } }] }, {}, { jwt: { ...defaultJwt, sub: "bob" } }],
  ["from.requestPrincipals * needs a token", { from: [{ source: { requestPrincipals: ["*"] } }] }, {}, { jwt: null }],
  ["from.notRequestPrincipals", { from: [{ source: { notRequestPrincipals: ["https://idp.test/alice"] } }] }, { jwt: { ...defaultJwt, sub: "bob" } }, {}],
  ["from.namespaces", { from: [{ source: { namespaces: ["foo"] } }] }, {}, { peer: "spiffe://cluster.local/ns/foobar/sa/bar" }],
  ["from.notNamespaces", { from: [{ source: { notNamespaces: ["foo"] } }] }, { peer: "spiffe://cluster.local/ns/prod/sa/bar" }, {}],
  ["from.ipBlocks", { from: [{ source: { ipBlocks: ["10.1.0.0/16"] } }] }, {}, { sourceIp: "10.2.0.1" }],
  ["from.notIpBlocks", { from: [{ source: { notIpBlocks: ["10.1.0.0/16"] } }] }, { sourceIp: "192.168.0.1" }, {}],
  ["from.remoteIpBlocks", { from: [{ source: { remoteIpBlocks: ["203.0.113.0/24"] } }] }, { remoteIp: "203.0.113.9" }, {}],
  ["from.notRemoteIpBlocks", { from: [{ source: { notRemoteIpBlocks: ["203.0.113.0/24"] } }] }, {}, { remoteIp: "203.0.113.9" }],
  ["to.hosts (with or without port, any case)", { to: [{ operation: { hosts: ["shop.example"] } }] }, { headers: { ":authority": "SHOP.example:8080" } }, { headers: { ":authority": "other.example" } }],
  ["to.notHosts", { to: [{ operation: { notHosts: ["shop.example"] } }] }, { headers: { ":authority": "other.example" } }, {}],
  ["to.ports", { to: [{ operation: { ports: ["8080"] } }] }, {}, { destPort: 9090 }],
  ["to.notPorts", { to: [{ operation: { notPorts: ["8080"] } }] }, { destPort: 9090 }, {}],
  ["to.methods", { to: [{ operation: { methods: ["GET", "HEAD"] } }] }, {}, { headers: { ":method": "POST" } }],
  ["to.notMethods", { to: [{ operation: { notMethods: ["GET"] } }] }, { headers: { ":method": "DELETE" } }, {}],
  ["to.paths exact", { to: [{ operation: { paths: ["/api/items"] } }] }, {}, { path: "/api/items/1" }],
  ["to.paths prefix *", { to: [{ operation: { paths: ["/api/*"] } }] }, { path: "/api/x/y" }, { path: "/static/a" }],
  ["to.paths suffix *", { to: [{ operation: { paths: ["*/info"] } }] }, { path: "/a/b/info" }, { path: "/a/info/x" }],
  ["to.notPaths", { to: [{ operation: { notPaths: ["/admin*"] } }] }, {}, { path: "/admin/x" }],
  ["when request.headers[]", { when: [{ key: "request.headers[x-user]", values: ["alice"] }] }, {}, { headers: { "x-user": "bob" } }],
  ["when request.headers[] notValues", { when: [{ key: "request.headers[x-user]", notValues: ["alice"] }] }, { headers: { "x-user": "bob" } }, {}],
  ["when source.ip", { when: [{ key: "source.ip", values: ["10.1.2.3"] }] }, {}, { sourceIp: "10.1.2.4" }],
  ["when remote.ip", { when: [{ key: "remote.ip", values: ["203.0.113.0/24"] }] }, { remoteIp: "203.0.113.1" }, {}],
  ["when source.namespace", { when: [{ key: "source.namespace", values: ["foo"] }] }, {}, { peer: "spiffe://cluster.local/ns/bar/sa/bar" }],
  ["when source.principal", { when: [{ key: "source.principal", values: ["cluster.local/ns/foo/sa/bar"] }] }, {}, { peer: "spiffe://cluster.local/ns/foo/sa/baz" }],
  ["when request.auth.principal", { when: [{ key: "request.auth.principal", values: ["https://idp.test/alice"] }] }, {}, { jwt: null }],
  ["when request.auth.audiences", { when: [{ key: "request.auth.audiences", values: ["shop"] }] }, {}, { jwt: { ...defaultJwt, aud: "billing" } }],
  ["when request.auth.presenter", { when: [{ key: "request.auth.presenter", values: ["web"] }] }, {}, { jwt: { ...defaultJwt, azp: "cli" } }],
  ["when request.auth.claims[] (plain claim)", { when: [{ key: "request.auth.claims[group]", values: ["admins"] }] }, {}, { jwt: { ...defaultJwt, group: "users" } }],
  ["when request.auth.claims[] (list claim)", { when: [{ key: "request.auth.claims[group]", values: ["admins"] }] }, { jwt: { ...defaultJwt, group: ["users", "admins"] } }, { jwt: { ...defaultJwt, group: ["users"] } }],
  ["when request.auth.claims[][] (nested)", { when: [{ key: "request.auth.claims[realm][role]", values: ["boss"] }] }, {}, { jwt: { ...defaultJwt, realm: { role: "intern" } } }],
  ["when request.auth.claims[] notValues", { when: [{ key: "request.auth.claims[group]", notValues: ["admins"] }] }, { jwt: { ...defaultJwt, group: "users" } }, {}],
  ["when destination.ip", { when: [{ key: "destination.ip", values: ["10.0.0.0/24"] }] }, {}, { destIp: "10.0.1.5" }],
  ["when destination.port", { when: [{ key: "destination.port", values: ["8080"] }] }, {}, { destPort: 8081 }],
  ["when connection.sni", { when: [{ key: "connection.sni", values: ["*.svc.cluster.local"] }] }, {}, { sni: "example.com" }],
  [
    "from AND to AND when",
    { from: [{ source: { namespaces: ["foo"] } }], to: [{ operation: { methods: ["GET"] } }], when: [{ key: "request.headers[x-user]", values: ["alice"] }] },
    {},
    { headers: { "x-user": "bob" } },
  ],
  ["two sources OR", { from: [{ source: { namespaces: ["nope"] } }, { source: { ipBlocks: ["10.1.2.3"] } }] }, {}, { sourceIp: "10.9.9.9" }],
];

for (const [name, rule, matching, other] of ruleCases) {
  test(`ALLOW ${name}: lets the matching request in, refuses the other`, () => {
    const { http, problems } = securityFor(policy("ALLOW", [rule]));
    assert.deepEqual(problems, []);
    assert.equal(allowed(http, input(matching)), true, "matching request");
    assert.equal(allowed(http, input(other)), false, "other request");
  });
  test(`DENY ${name}: refuses the matching request, lets the other in`, () => {
    const { http } = securityFor(policy("DENY", [rule]));
    assert.equal(allowed(http, input(matching)), false, "matching request");
    assert.equal(allowed(http, input(other)), true, "other request");
  });
}

test("Istio's evaluation order: DENY before ALLOW; no ALLOW policy allows; an ALLOW policy denies the rest", () => {
  const both = securityFor(
    policy("DENY", [{ to: [{ operation: { paths: ["/admin*"] } }] }], "deny-admin") + policy("ALLOW", [{ from: [{ source: { namespaces: ["foo"] } }] }], "allow-foo"),
  ).http;
  assert.equal(allowed(both, input()), true);
  assert.equal(allowed(both, input({ path: "/admin/x" })), false, "DENY wins over a matching ALLOW");
  assert.equal(allowed(both, input({ peer: "spiffe://cluster.local/ns/bar/sa/x" })), false, "ALLOW exists, nothing allows this one");
  const denyOnly = securityFor(policy("DENY", [{ to: [{ operation: { paths: ["/admin*"] } }] }])).http;
  assert.equal(allowed(denyOnly, input({ peer: "" })), true, "no ALLOW policy: allowed unless denied");
  const allowNothing = securityFor(policy("ALLOW", undefined)).http;
  assert.equal(allowed(allowNothing, input()), false, "an ALLOW policy without rules allows nothing");
  const allowAll = securityFor(policy("ALLOW", [{}])).http;
  assert.equal(allowed(allowAll, input({ peer: "", jwt: null })), true, "rules: [{}] allows everything");
  const audit = securityFor(policy("AUDIT", [{}])).http;
  assert.equal(allowed(audit, input()), true, "AUDIT never denies");
});

test("TCP: network RBAC from the same policies; HTTP-only ALLOW rules fail closed, DENY rules deny more", () => {
  const tcpInput = (r: Req = {}): RbacInput => ({ ...input({ ...r, jwt: null }), header: () => undefined, path: undefined });
  const allowNs = securityFor(policy("ALLOW", [{ from: [{ source: { namespaces: ["foo"] } }] }])).tcp;
  assert.equal(allowed(allowNs, tcpInput()), true);
  assert.equal(allowed(allowNs, tcpInput({ peer: "" })), false);
  const allowMethods = securityFor(policy("ALLOW", [{ to: [{ operation: { methods: ["GET"] } }] }]));
  assert.equal(allowed(allowMethods.tcp, tcpInput()), false, "an ALLOW rule on methods allows nothing on TCP");
  const denyMethodsFromFoo = securityFor(policy("DENY", [{ from: [{ source: { namespaces: ["foo"] } }], to: [{ operation: { methods: ["GET"] } }] }])).tcp;
  assert.equal(allowed(denyMethodsFromFoo, tcpInput()), false, "the DENY rule without its HTTP part denies foo's connections");
  assert.equal(allowed(denyMethodsFromFoo, tcpInput({ peer: "spiffe://cluster.local/ns/bar/sa/x" })), true);
});
