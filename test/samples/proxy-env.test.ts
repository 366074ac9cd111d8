// When the demo apps' outbound calls go through HTTP_PROXY (the sidecar in process mode)
// and when NO_PROXY sends them direct.
import assert from "node:assert/strict";
import { test } from "node:test";
import { bypassesProxy, proxyFor } from "../../samples/sentiment/lib/index.ts";

const url = (s: string) => new URL(s);

test("no HTTP_PROXY: every request goes direct", () => {
  assert.equal(proxyFor(url("http://sa-logic/analyse/sentiment"), {}), undefined);
});

test("HTTP_PROXY (or http_proxy) is used for service names; a bare host:port means http", () => {
  assert.equal(proxyFor(url("http://sa-logic/x"), { HTTP_PROXY: "http://127.0.0.1:15001" })?.href, "http://127.0.0.1:15001/");
  assert.equal(proxyFor(url("http://sa-logic/x"), { http_proxy: "127.0.0.1:15001" })?.port, "15001");
});

test("an https:// or malformed HTTP_PROXY is refused with what to set instead", () => {
  assert.throws(() => proxyFor(url("http://sa-logic/"), { HTTP_PROXY: "https://proxy:443" }), /only an http:\/\/ proxy is supported/);
  assert.throws(() => proxyFor(url("http://sa-logic/"), { HTTP_PROXY: "http://[bad" }), /is not a URL; set it like http:\/\/127\.0\.0\.1:15001/);
});

test("NO_PROXY: exact hosts, domains with or without a leading dot, ports, *, IPv6", () => {
  const cases: [string, string, boolean][] = [
    ["http://localhost:8080/", "localhost,127.0.0.1", true],
    ["http://127.0.0.1:9/", "localhost, 127.0.0.1", true],
    ["http://sa-logic/", "localhost,127.0.0.1", false],
    ["http://sa-logic.demo.svc.cluster.local/", "cluster.local", true],
    ["http://sa-logic.demo.svc.cluster.local/", ".cluster.local", true],
    ["http://sa-logic.demo.svc.cluster.local/", "*.cluster.local", true],
    ["http://notcluster.local/", "cluster.local", false],
    ["http://sa-logic:8080/", "sa-logic:8080", true],
    ["http://sa-logic:8081/", "sa-logic:8080", false],
    ["http://sa-logic/", "sa-logic:80", true],
    ["http://[::1]:8080/", "::1", true],
    ["http://[::1]:8080/", "[::1]:8080", true],
    ["http://anything/", "*", true],
    ["http://SA-Logic/", "sa-logic", true],
    ["http://sa-logic/", "", false],
  ];
  for (const [target, noProxy, expected] of cases) {
    assert.equal(bypassesProxy(url(target), noProxy), expected, `${target} with NO_PROXY="${noProxy}"`);
  }
});

test("a host NO_PROXY matches goes direct even with HTTP_PROXY set", () => {
  assert.equal(proxyFor(url("http://127.0.0.1:8080/"), { HTTP_PROXY: "http://127.0.0.1:15001", NO_PROXY: "127.0.0.1" }), undefined);
  assert.equal(proxyFor(url("http://127.0.0.1:8080/"), { HTTP_PROXY: "http://127.0.0.1:15001", no_proxy: "127.0.0.1" }), undefined);
});
