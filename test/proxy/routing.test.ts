// Routing through the proxy, configured only over xDS: domains, path/prefix/regex,
// header and query matches, first match wins, weighted clusters, direct responses,
// redirects, rewrites, header mutation, proxy headers, NR.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { TestAdsServer } from "./helpers/ads-server.ts";
import { httpListener, loadAssignment, edsCluster, request, routeConfig, serve, startProxy, startUpstream, staticCluster, vhost, type RunningProxy, type Upstream } from "./helpers/fixtures.ts";

let ads: TestAdsServer;
let proxy: RunningProxy;
let a: Upstream;
let b: Upstream;
let port: number;
let ring: Upstream[];

const route = (match: Record<string, unknown>, action: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({ match, ...action, ...extra });

before(async () => {
  ads = new TestAdsServer();
  await ads.start();
  a = await startUpstream(undefined, "a");
  b = await startUpstream(undefined, "b");
  ring = [await startUpstream(undefined, "r1"), await startUpstream(undefined, "r2"), await startUpstream(undefined, "r3")];
  proxy = await startProxy(ads, { random: (() => { let i = 0; return () => ((i++ * 0.37) % 1); })() });
  await serve(ads, proxy, {
    clusters: [staticCluster("a", [a.port]), edsCluster("b"), staticCluster("ring", ring.map((u) => u.port), { lb_policy: "RING_HASH" })],
    endpoints: [loadAssignment("b", [b.port])],
    listeners: [
      httpListener("http", { rds: "80" }),
      httpListener("edge", { routeConfig: routeConfig("edge", [vhost("all", ["*"], [{ match: { prefix: "/" }, route: { cluster: "a" } }])]), hcm: { use_remote_address: true } }),
    ],
    routes: [
      routeConfig(
        "80",
        [
          vhost("exact", ["exact.test", "exact.test:8080"], [route({ prefix: "/" }, { route: { cluster: "b" } })]),
          vhost("suffix", ["*.wild.test"], [route({ prefix: "/" }, { direct_response: { status: 200, body: { inline_string: "suffix" } } })]),
          vhost("longer-suffix", ["*.deep.wild.test"], [route({ prefix: "/" }, { direct_response: { status: 200, body: { inline_string: "longer-suffix" } } })]),
          vhost("prefix", ["api.*"], [route({ prefix: "/" }, { direct_response: { status: 200, body: { inline_string: "prefix" } } })]),
          vhost(
            "default",
            ["*"],
            [
              route({ path: "/exact" }, { direct_response: { status: 200, body: { inline_string: "path" } } }),
              route({ safe_regex: { regex: "/items/[0-9]+" } }, { direct_response: { status: 200, body: { inline_string: "regex" } } }),
              route({ prefix: "/CaSe", case_sensitive: false }, { direct_response: { status: 200, body: { inline_string: "nocase" } } }),
              route({ prefix: "/hdr", headers: [{ name: "x-user", string_match: { exact: "jason" } }] }, { direct_response: { status: 200, body: { inline_string: "jason" } } }),
              route({ prefix: "/hdr", headers: [{ name: "x-user", string_match: { prefix: "j" } }, { name: "x-beta", present_match: true, invert_match: true }] }, { direct_response: { status: 200, body: { inline_string: "j-no-beta" } } }),
              route({ prefix: "/hdr" }, { direct_response: { status: 200, body: { inline_string: "hdr-fallback" } } }),
              route({ prefix: "/q", query_parameters: [{ name: "v", string_match: { exact: "2" } }] }, { direct_response: { status: 200, body: { inline_string: "q2" } } }),
              route({ prefix: "/q" }, { direct_response: { status: 200, body: { inline_string: "q-other" } } }),
              route({ prefix: "/first" }, { direct_response: { status: 201, body: { inline_string: "first" } } }),
              route({ prefix: "/first" }, { direct_response: { status: 202, body: { inline_string: "second" } } }),
              route({ prefix: "/old/" }, { redirect: { prefix_rewrite: "/new/", response_code: "FOUND" } }),
              route({ prefix: "/secure" }, { redirect: { https_redirect: true } }),
              route({ prefix: "/elsewhere" }, { redirect: { host_redirect: "other.test", path_redirect: "/landing" } }),
              route({ prefix: "/api/v1/" }, { route: { cluster: "a", prefix_rewrite: "/v2/", host_rewrite_literal: "backend.internal" } }),
              route({ safe_regex: { regex: "/users/([0-9]+)/profile" } }, { route: { cluster: "a", regex_rewrite: { pattern: { regex: "^/users/([0-9]+)/profile$" }, substitution: "/profile?id=\\1" } } }),
              route(
                { prefix: "/headers" },
                {
                  route: { cluster: "a" },
                  request_headers_to_add: [{ header: { key: "x-route", value: "r" } }, { header: { key: "x-over", value: "route" }, append_action: "OVERWRITE_IF_EXISTS_OR_ADD" }],
                  request_headers_to_remove: ["x-secret"],
                  response_headers_to_add: [{ header: { key: "x-resp-route", value: "1" } }],
                  response_headers_to_remove: ["x-upstream"],
                },
              ),
              route({ prefix: "/split" }, { route: { weighted_clusters: { clusters: [{ name: "a", weight: 75 }, { name: "b", weight: 25 }] } } }),
              route({ prefix: "/a" }, { route: { cluster: "a" } }),
              route({ prefix: "/sticky" }, { route: { cluster: "ring", hash_policy: [{ header: { header_name: "x-user" } }] } }),
            ],
            {
              request_headers_to_add: [{ header: { key: "x-vhost", value: "v" } }, { header: { key: "x-over", value: "vhost" }, append_action: "OVERWRITE_IF_EXISTS_OR_ADD" }],
              response_headers_to_add: [{ header: { key: "x-resp-vhost", value: "1" } }],
            },
          ),
        ],
        { request_headers_to_add: [{ header: { key: "x-config", value: "c" } }] },
      ),
    ],
  });
  port = proxy.port("http");
});

after(async () => {
  for (const u of ring) await u.close();
  await proxy.stop();
  await ads.stop();
  await a.close();
  await b.close();
});

test("domains: exact (with port), suffix wildcards longest first, prefix wildcard, catch-all", async () => {
  assert.equal(JSON.parse((await request(port, "/", { host: "exact.test" })).body).name, "b");
  assert.equal(JSON.parse((await request(port, "/", { host: "EXACT.test:8080" })).body).name, "b");
  assert.equal((await request(port, "/", { host: "x.wild.test" })).body, "suffix");
  assert.equal((await request(port, "/", { host: "x.deep.wild.test" })).body, "longer-suffix");
  assert.equal((await request(port, "/", { host: "api.example" })).body, "prefix");
  // The wildcard must stand for at least one character: ".wild.test" falls to the catch-all.
  assert.equal((await request(port, "/exact", { host: ".wild.test" })).body, "path");
  assert.equal((await request(port, "/exact", { host: "wild.test" })).body, "path");
});

test("path, regex (whole path), case-insensitive prefix", async () => {
  assert.equal((await request(port, "/exact")).body, "path");
  assert.equal((await request(port, "/items/42")).body, "regex");
  assert.equal((await request(port, "/items/42?x=1")).body, "regex");
  assert.notEqual((await request(port, "/items/42x")).body, "regex");
  assert.equal((await request(port, "/case/x")).body, "nocase");
});

test("header matches (exact, prefix, inverted presence) and query parameters; first match wins", async () => {
  assert.equal((await request(port, "/hdr", { headers: { "x-user": "jason" } })).body, "jason");
  assert.equal((await request(port, "/hdr", { headers: { "x-user": "jane" } })).body, "j-no-beta");
  assert.equal((await request(port, "/hdr", { headers: { "x-user": "jane", "x-beta": "1" } })).body, "hdr-fallback");
  assert.equal((await request(port, "/q?a=1&v=2")).body, "q2");
  assert.equal((await request(port, "/q?v=3")).body, "q-other");
  const first = await request(port, "/first");
  assert.equal(first.status, 201);
  assert.equal(first.body, "first");
});

test("no route: 404 with the server header", async () => {
  const r = await request(port, "/nothing-here", { host: "exact.test.other" });
  // catch-all vhost exists but no route matches /nothing-here
  assert.equal(r.status, 404);
  assert.equal(r.headers.server, "skiff");
});

test("redirects: prefix rewrite with 302, https, host+path", async () => {
  const r1 = await request(port, "/old/page?x=1", { host: "site.test" });
  assert.equal(r1.status, 302);
  assert.equal(r1.headers.location, "http://site.test/new/page?x=1");
  const r2 = await request(port, "/secure/a", { host: "site.test:8080" });
  assert.equal(r2.status, 301);
  assert.equal(r2.headers.location, "https://site.test/secure/a");
  const r3 = await request(port, "/elsewhere", { host: "site.test" });
  assert.equal(r3.headers.location, "http://other.test/landing");
});

test("prefix rewrite, regex rewrite and host rewrite reach the upstream", async () => {
  const r = await request(port, "/api/v1/things?z=9", { host: "site.test" });
  const seen = JSON.parse(r.body);
  assert.equal(seen.url, "/v2/things?z=9");
  assert.equal(seen.headers.host, "backend.internal");
  assert.equal(seen.headers["x-forwarded-host"], "site.test");
  assert.equal(seen.headers["x-envoy-original-path"], "/api/v1/things?z=9");
  const r2 = JSON.parse((await request(port, "/users/17/profile")).body);
  assert.equal(r2.url, "/profile?id=17");
});

test("header mutation at route, vhost and config levels; proxy headers", async () => {
  const r = await request(port, "/headers", { headers: { "x-secret": "s", "x-request-id": "", "x-forwarded-for": "10.1.1.1" } });
  assert.equal(r.status, 200);
  const seen = JSON.parse(r.body).headers;
  assert.equal(seen["x-route"], "r");
  assert.equal(seen["x-vhost"], "v");
  assert.equal(seen["x-config"], "c");
  assert.equal(seen["x-secret"], undefined);
  // Route level is applied first, then the virtual host overwrites (Envoy's default order).
  assert.equal(seen["x-over"], "vhost");
  assert.match(seen["x-request-id"], /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.equal(seen["x-forwarded-proto"], "http");
  // use_remote_address is false: XFF passes unchanged.
  assert.equal(seen["x-forwarded-for"], "10.1.1.1");
  assert.equal(r.headers["x-resp-route"], "1");
  assert.equal(r.headers["x-resp-vhost"], "1");
  assert.equal(r.headers["x-upstream"], undefined);
  assert.equal(r.headers.server, "skiff");
  assert.match(String(r.headers["x-envoy-upstream-service-time"]), /^\d+$/);
  // An existing request id is kept.
  const kept = JSON.parse((await request(port, "/a", { headers: { "x-request-id": "abc" } })).body).headers;
  assert.equal(kept["x-request-id"], "abc");
});

test("weighted clusters split by weight", async () => {
  const seen = { a: 0, b: 0 };
  for (let i = 0; i < 40; i++) {
    const name = JSON.parse((await request(port, "/split")).body).name as "a" | "b";
    seen[name]++;
  }
  // The injected random source walks evenly over [0,1): 75/25 within a small margin.
  assert.ok(seen.a >= 26 && seen.a <= 34, JSON.stringify(seen));
  assert.equal(seen.a + seen.b, 40);
});

test("hash policy on a header: the same user sticks to one host, users spread over hosts", async () => {
  const hostFor = async (user: string): Promise<string> => JSON.parse((await request(port, "/sticky", { headers: { "x-user": user } })).body).name;
  const first = await hostFor("alice");
  for (let i = 0; i < 5; i++) assert.equal(await hostFor("alice"), first);
  const seen = new Set<string>();
  for (let i = 0; i < 20; i++) seen.add(await hostFor(`user-${i}`));
  assert.ok(seen.size > 1, `20 users all hashed to ${[...seen].join()}`);
});

test("use_remote_address appends the peer to x-forwarded-for and sets x-forwarded-proto", async () => {
  const seen = JSON.parse((await request(proxy.port("edge"), "/", { headers: { "x-forwarded-for": "10.1.1.1", "x-forwarded-proto": "https" } })).body).headers;
  assert.equal(seen["x-forwarded-for"], "10.1.1.1,127.0.0.1");
  assert.equal(seen["x-forwarded-proto"], "http");
});

test("absolute-form request targets (clients using the proxy as HTTP_PROXY) route by the URL's host", async () => {
  const reply = await new Promise<string>((resolve, reject) => {
    let got = "";
    const sock = net.connect(port, "127.0.0.1", () => sock.write("GET http://exact.test/via-proxy?q=1 HTTP/1.1\r\nhost: ignored.test\r\nconnection: close\r\n\r\n"));
    sock.on("data", (d: Buffer) => (got += d.toString()));
    sock.on("end", () => resolve(got));
    sock.on("error", reject);
  });
  assert.match(reply, /^HTTP\/1\.1 200 /);
  // The body is chunked; its one chunk is the upstream's JSON echo.
  const body = reply.slice(reply.indexOf("\r\n\r\n") + 4);
  const seen = JSON.parse(body.slice(body.indexOf("\r\n") + 2, body.lastIndexOf("}") + 1));
  assert.equal(seen.name, "b"); // the exact.test virtual host
  assert.equal(seen.url, "/via-proxy?q=1");
  assert.equal(seen.headers.host, "exact.test");
});
