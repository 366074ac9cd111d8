import { test } from "node:test";
import assert from "node:assert/strict";
import { checkFqdn, checkNamespacedHost, checkWildcardHost, hostMatches, isPartialWildcard } from "../../../src/api/semantic/hosts.ts";

test("wildcard hosts: * only as the whole leftmost label", () => {
  for (const ok of ["*", "*.example.com", "reviews", "reviews.default.svc.cluster.local", "api-v2.example.com", "example.com.", "*foo.example.com"]) {
    assert.equal(checkWildcardHost(ok), undefined, ok);
  }
  assert.match(checkWildcardHost("foo.*.com") ?? "", /wildcard may only be the leftmost label/);
  assert.match(checkWildcardHost("foo.*") ?? "", /wildcard may only be the leftmost label/);
  assert.match(checkWildcardHost("**.example.com") ?? "", /invalid wildcard label/);
  assert.match(checkWildcardHost("a..b") ?? "", /not a valid DNS name/);
  assert.match(checkWildcardHost("-foo.com") ?? "", /not a valid DNS name/);
  assert.match(checkWildcardHost("under_score.com") ?? "", /not a valid DNS name/);
  assert.match(checkWildcardHost("") ?? "", /must not be empty/);
});

test("label and name length limits", () => {
  assert.equal(checkWildcardHost(`${"a".repeat(63)}.com`), undefined);
  assert.match(checkWildcardHost(`${"a".repeat(64)}.com`) ?? "", /not a valid DNS name/);
  const long = Array.from({ length: 5 }, () => "a".repeat(60)).join(".");
  assert.match(checkWildcardHost(long) ?? "", /longer than 255/);
});

test("FQDNs take no wildcard at all", () => {
  assert.equal(checkFqdn("db.example.com"), undefined);
  assert.ok(checkFqdn("*.example.com"));
});

test("partial wildcards are recognised so callers can warn about them", () => {
  assert.equal(isPartialWildcard("*foo.example.com"), true);
  assert.equal(isPartialWildcard("*.example.com"), false);
});

test("namespace/host: gateways accept bare hosts, sidecars require the slash form", () => {
  assert.equal(checkNamespacedHost("uk.bookinfo.com", "gateway"), undefined);
  assert.equal(checkNamespacedHost("./*", "gateway"), undefined);
  assert.equal(checkNamespacedHost("*/foo.example.com", "sidecar"), undefined);
  assert.equal(checkNamespacedHost("~/*", "sidecar"), undefined);
  assert.match(checkNamespacedHost("~/*", "gateway") ?? "", /namespace "~"/);
  assert.match(checkNamespacedHost("reviews.prod.svc.cluster.local", "sidecar") ?? "", /namespace\/host/);
  assert.match(checkNamespacedHost("Prod/*", "sidecar") ?? "", /namespace "Prod"/);
  assert.match(checkNamespacedHost("prod/", "sidecar") ?? "", /both a namespace and a host/);
  assert.match(checkNamespacedHost("prod/foo.*.com", "sidecar") ?? "", /leftmost/);
});

test("host matching follows wildcard suffixes", () => {
  assert.equal(hostMatches("*.example.com", "api.example.com"), true);
  assert.equal(hostMatches("*.example.com", "example.com"), false);
  assert.equal(hostMatches("*", "anything"), true);
  assert.equal(hostMatches("api.example.com", "*.example.com"), false);
});
