// AuthorizationPolicy conditions and JWT key sets: the pieces with the most rules to get right.
import { test } from "node:test";
import assert from "node:assert/strict";
import { attributeCheck } from "../../../src/api/semantic/authz-attributes.ts";
import { checkPathTemplate } from "../../../src/api/semantic/authorization-policy.ts";
import { checkJwks, checkJwksUri } from "../../../src/api/semantic/jwt.ts";
import { validateSemantics } from "../../../src/api/semantic/index.ts";
import type { AnyResource } from "../../../src/api/types.ts";

test("every `when` key Istio documents is accepted", () => {
  const keys = [
    "request.headers[x-user]", "source.ip", "remote.ip", "source.namespace", "source.principal", "source.serviceAccount",
    "request.auth.principal", "request.auth.audiences", "request.auth.presenter", "request.auth.claims[groups]",
    "request.auth.claims[nested][key]", "request.auth.claims[https://example.com/roles]", "destination.ip", "destination.port",
    "connection.sni", "experimental.envoy.filters.network.mysql_proxy[db.table]",
  ];
  for (const key of keys) assert.ok("check" in attributeCheck(key), key);
});

test("unknown or malformed `when` keys are refused", () => {
  for (const key of ["request.auth.claim[groups]", "request.headers", "request.headers[]", "request.auth.claims", "source.user", "destination.name"]) {
    assert.ok("problem" in attributeCheck(key), key);
  }
});

test("values are checked by key: IPs and CIDRs, ports", () => {
  const ip = attributeCheck("source.ip");
  assert.ok("check" in ip);
  assert.equal(ip.check("10.0.0.0/8"), undefined);
  assert.equal(ip.check("2001:db8::1"), undefined);
  assert.ok(ip.check("10.0.0.300"));
  assert.ok(ip.check("10.0.0.0/40"));
  const port = attributeCheck("destination.port");
  assert.ok("check" in port);
  assert.equal(port.check("8080"), undefined);
  assert.ok(port.check("0"));
  assert.ok(port.check("http"));
});

test("path templates {*} and {**}", () => {
  assert.equal(checkPathTemplate("/api/{*}/items/{**}"), undefined);
  assert.equal(checkPathTemplate("/plain/*"), undefined);
  assert.match(checkPathTemplate("/api/{**}/x") ?? "", /last segment/);
  assert.match(checkPathTemplate("/api/{id}") ?? "", /exactly \{\*\} or \{\*\*\}/);
});

test("notValues are validated like values", () => {
  const ap = {
    apiVersion: "security.istio.io/v1", kind: "AuthorizationPolicy", metadata: { name: "p", namespace: "foo" },
    spec: { action: "DENY", rules: [{ when: [{ key: "destination.port", notValues: ["80", "99999"] }] }] },
  } as unknown as AnyResource;
  const ds = validateSemantics(ap, { all: [ap], domain: "cluster.local" });
  assert.deepEqual(ds.map((d) => d.path), ["spec.rules[0].when[0].notValues[1]"]);
});

test("rules: [{}] matches everything and is valid; DENY without rules is not", () => {
  const policy = (spec: object): AnyResource => ({ apiVersion: "security.istio.io/v1", kind: "AuthorizationPolicy", metadata: { name: "p", namespace: "foo" }, spec } as unknown as AnyResource);
  const allowAll = policy({ action: "DENY", rules: [{}] });
  assert.deepEqual(validateSemantics(allowAll, { all: [], domain: "cluster.local" }), []);
  const denyNothing = policy({ action: "DENY" });
  assert.deepEqual(validateSemantics(denyNothing, { all: [], domain: "cluster.local" }).map((d) => d.path), ["spec.rules"]);
});

test("JWKS documents and URIs", () => {
  assert.equal(checkJwks('{"keys":[{"kty":"EC","crv":"P-256","x":"abc","y":"def"}]}'), undefined);
  assert.equal(checkJwks('{"kty":"oct","k":"c2VjcmV0"}'), undefined, "a single JWK is a key set of one");
  assert.match(checkJwks("{") ?? "", /not valid JSON/);
  assert.match(checkJwks('{"keys":[]}') ?? "", /no keys/);
  assert.match(checkJwks('{"keys":[{"kty":"RSA","n":"abc"}]}') ?? "", /missing "e"/);
  assert.match(checkJwks('{"keys":[{"kty":"DSA"}]}') ?? "", /unsupported kty/);
  assert.equal(checkJwksUri("https://example.com/.well-known/jwks.json"), undefined);
  assert.equal(checkJwksUri("http://keys.internal:8080/jwks"), undefined);
  assert.match(checkJwksUri("example.com/jwks.json") ?? "", /not a valid URL/);
  assert.match(checkJwksUri("file:///etc/jwks.json") ?? "", /http or https/);
});
