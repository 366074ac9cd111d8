// Timeouts, retries, fault injection, mirroring and CORS through the proxy, with real
// loopback upstreams that count what reaches them. Configured only over xDS.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { TestAdsServer } from "./helpers/ads-server.ts";
import { formatResponseFlags } from "../../src/proxy/index.ts";
import { T, httpListener, request, routeConfig, serve, startProxy, startUpstream, staticCluster, vhost, type RunningProxy, type Upstream } from "./helpers/fixtures.ts";

let ads: TestAdsServer;
let proxy: RunningProxy;
let slow: Upstream;
let flaky: Upstream;
let ok: Upstream;
let shadow: Upstream;
let port: number;
let flakyFailures = 0;
let bad: Upstream;
let good: Upstream;
/** What the per-request observers saw: the hook access logs and stats will use. */
const completed: Array<{ path: string; code: number; flags: string }> = [];
const flagsOf = (path: string): string | undefined => completed.findLast((c) => c.path === path)?.flags;

before(async () => {
  ads = new TestAdsServer();
  await ads.start();
  slow = await startUpstream((_req, res) => {
    setTimeout(() => {
      res.writeHead(200);
      res.end("late");
    }, 2000).unref();
  });
  // Fails with 503 while flakyFailures > 0, then succeeds.
  flaky = await startUpstream((req, res) => {
    if (flakyFailures > 0) {
      flakyFailures--;
      res.writeHead(req.url?.startsWith("/status") ? 418 : 503);
      res.end("fail");
      return;
    }
    res.writeHead(200);
    res.end("recovered");
  });
  ok = await startUpstream(undefined, "ok");
  bad = await startUpstream((_req, res) => {
    res.writeHead(503);
    res.end("bad");
  }, "bad");
  good = await startUpstream(undefined, "good");
  shadow = await startUpstream(undefined, "shadow");
  proxy = await startProxy(ads);
  proxy.proxy.observers.push((ctx) => completed.push({ path: ctx.path, code: ctx.responseCode, flags: formatResponseFlags(ctx.responseFlags) }));
  // A port nothing listens on: bind, note it, close.
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const closedPort = (probe.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  const faultFilter = { name: "envoy.filters.http.fault", typed_config: { "@type": T.fault } };
  const corsFilter = { name: "envoy.filters.http.cors", typed_config: { "@type": T.cors } };
  await serve(ads, proxy, {
    clusters: [staticCluster("closed", [closedPort]), staticCluster("slow", [slow.port]), staticCluster("flaky", [flaky.port]), staticCluster("ok", [ok.port]), staticCluster("shadow", [shadow.port]),
      staticCluster("pair", [bad.port, good.port], { lb_policy: "RING_HASH" }),
      staticCluster("budget", [flaky.port], { circuit_breakers: { thresholds: [{ max_retries: 0 }] } })],
    listeners: [httpListener("http", { rds: "r", filters: [faultFilter, corsFilter] })],
    routes: [
      routeConfig("r", [
        vhost(
          "all",
          ["*"],
          [
            { match: { prefix: "/timeout" }, route: { cluster: "slow", timeout: "0.2s" } },
            { match: { prefix: "/per-try" }, route: { cluster: "slow", timeout: "5s", retry_policy: { retry_on: "reset", num_retries: 2, per_try_timeout: "0.1s", retry_back_off: { base_interval: "0.001s" } } } },
            { match: { prefix: "/retry" }, route: { cluster: "flaky", retry_policy: { retry_on: "5xx", num_retries: 3, retry_back_off: { base_interval: "0.001s", max_interval: "0.005s" } } } },
            { match: { prefix: "/status" }, route: { cluster: "flaky", retry_policy: { retry_on: "retriable-status-codes", retriable_status_codes: [418], num_retries: 1, retry_back_off: { base_interval: "0.001s" } } } },
            { match: { prefix: "/noretry" }, route: { cluster: "flaky" } },
            {
              match: { prefix: "/hosts" },
              route: {
                cluster: "pair",
                hash_policy: [{ header: { header_name: "x-key" } }],
                retry_policy: { retry_on: "5xx", num_retries: 1, retry_host_predicate: [{ name: "envoy.retry_host_predicates.previous_hosts", typed_config: { "@type": "type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate" } }], host_selection_retry_max_attempts: 5, retry_back_off: { base_interval: "0.001s" } },
              },
            },
            { match: { prefix: "/budget" }, route: { cluster: "budget", retry_policy: { retry_on: "5xx", num_retries: 3, retry_back_off: { base_interval: "0.001s" } } } },
            { match: { prefix: "/refused" }, route: { cluster: "closed", retry_policy: { retry_on: "connect-failure", num_retries: 2, retry_back_off: { base_interval: "0.001s" } } } },
            {
              match: { prefix: "/abort" },
              route: { cluster: "ok" },
              typed_per_filter_config: { "envoy.filters.http.fault": { "@type": T.fault, abort: { http_status: 418, percentage: { numerator: 100, denominator: "HUNDRED" } } } },
            },
            {
              match: { prefix: "/delay" },
              route: { cluster: "ok" },
              typed_per_filter_config: { "envoy.filters.http.fault": { "@type": T.fault, delay: { fixed_delay: "0.3s", percentage: { numerator: 100 } } } },
            },
            {
              match: { prefix: "/never-abort" },
              route: { cluster: "ok" },
              typed_per_filter_config: { "envoy.filters.http.fault": { "@type": T.fault, abort: { http_status: 500, percentage: { numerator: 0 } } } },
            },
            { match: { prefix: "/mirror" }, route: { cluster: "ok", request_mirror_policies: [{ cluster: "shadow", runtime_fraction: { default_value: { numerator: 100 } } }] } },
            {
              match: { prefix: "/cors" },
              route: { cluster: "ok" },
              typed_per_filter_config: {
                "envoy.filters.http.cors": {
                  "@type": T.corsPolicy,
                  allow_origin_string_match: [{ exact: "https://app.test" }, { suffix: ".trusted.test" }],
                  allow_methods: "GET,POST",
                  allow_headers: "x-custom",
                  expose_headers: "x-exposed",
                  max_age: "600",
                  allow_credentials: true,
                },
              },
            },
          ],
        ),
      ]),
    ],
  });
  port = proxy.port("http");
});

after(async () => {
  await proxy.stop();
  await ads.stop();
  for (const u of [slow, flaky, ok, shadow, bad, good]) await u.close();
});

test("route timeout answers 504 upstream request timeout", async () => {
  const r = await request(port, "/timeout");
  assert.equal(r.status, 504);
  assert.equal(r.body, "upstream request timeout");
  assert.equal(flagsOf("/timeout"), "UT");
});

test("per-try timeout retries, then the overall timeout is not reached: 504 after 3 tries", async () => {
  const before = slow.requests.length;
  const r = await request(port, "/per-try");
  // Three attempts each cut at 100 ms; the upstream records each request when its body ends.
  assert.equal(r.status, 504);
  assert.ok(slow.requests.length - before >= 1);
  const stats = await (await fetch(`${proxy.adminUrl}/stats`)).text();
  assert.match(stats, /cluster\.slow\.upstream_rq_per_try_timeout: 3/);
});

test("retry on 5xx until success counts the upstream hits", async () => {
  flakyFailures = 2;
  const before = flaky.requests.length;
  const r = await request(port, "/retry");
  assert.equal(r.status, 200);
  assert.equal(r.body, "recovered");
  assert.equal(flaky.requests.length - before, 3);
});

test("retries exhausted return the last response", async () => {
  flakyFailures = 10;
  const before = flaky.requests.length;
  const r = await request(port, "/retry");
  assert.equal(r.status, 503);
  assert.equal(flaky.requests.length - before, 4); // 1 + num_retries 3
  assert.equal(flagsOf("/retry"), "URX");
  flakyFailures = 0;
});

test("retriable status codes and no retry without a policy", async () => {
  flakyFailures = 1;
  let before = flaky.requests.length;
  assert.equal((await request(port, "/status")).status, 200);
  assert.equal(flaky.requests.length - before, 2);
  flakyFailures = 1;
  before = flaky.requests.length;
  assert.equal((await request(port, "/noretry")).status, 503);
  assert.equal(flaky.requests.length - before, 1);
  flakyFailures = 0;
});

test("connection refused: retried on connect-failure, then 503 with Envoy's body", async () => {
  const r = await request(port, "/refused");
  assert.equal(r.status, 503);
  assert.equal(r.body, "upstream connect error or disconnect/reset before headers. reset reason: connection failure");
  const stats = await (await fetch(`${proxy.adminUrl}/stats`)).text();
  assert.match(stats, /cluster\.closed\.upstream_cx_connect_fail: 3/);
  assert.equal(flagsOf("/refused"), "UF,URX");
});

test("fault abort (FI) and delay (DI) from per-route config; 0% never aborts", async () => {
  const before = ok.requests.length;
  const r = await request(port, "/abort");
  assert.equal(r.status, 418);
  assert.equal(r.body, "fault filter abort");
  assert.equal(ok.requests.length, before, "aborted requests never reach the upstream");
  assert.equal(flagsOf("/abort"), "FI");
  const start = process.hrtime.bigint();
  const d = await request(port, "/delay");
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  assert.equal(d.status, 200);
  assert.equal(flagsOf("/delay"), "DI");
  assert.ok(ms >= 290, `delayed ${ms} ms`); // a lower bound only: the delay happened
  assert.equal((await request(port, "/never-abort")).status, 200);
});

test("mirroring sends a copy to the shadow cluster with -shadow authority", async () => {
  const r = await request(port, "/mirror?x=1", { host: "svc.test:8080", method: "POST", body: "payload" });
  assert.equal(r.status, 200);
  const deadline = Date.now() + 3000;
  while (shadow.requests.length === 0 && Date.now() < deadline) await new Promise((res) => setTimeout(res, 20));
  assert.equal(shadow.requests.length, 1);
  assert.equal(shadow.requests[0].headers.host, "svc.test-shadow:8080");
  assert.equal(shadow.requests[0].url, "/mirror?x=1");
  assert.equal(shadow.requests[0].body, "payload");
});

test("CORS preflight is answered by the proxy; simple requests get allow-origin; others do not", async () => {
  const before = ok.requests.length;
  const pre = await request(port, "/cors", { method: "OPTIONS", headers: { origin: "https://app.test", "access-control-request-method": "POST" } });
  assert.equal(pre.status, 200);
  assert.equal(pre.headers["access-control-allow-origin"], "https://app.test");
  assert.equal(pre.headers["access-control-allow-methods"], "GET,POST");
  assert.equal(pre.headers["access-control-allow-headers"], "x-custom");
  assert.equal(pre.headers["access-control-max-age"], "600");
  assert.equal(pre.headers["access-control-allow-credentials"], "true");
  assert.equal(ok.requests.length, before);
  const simple = await request(port, "/cors", { headers: { origin: "https://x.trusted.test" } });
  assert.equal(simple.headers["access-control-allow-origin"], "https://x.trusted.test");
  assert.equal(simple.headers["access-control-expose-headers"], "x-exposed");
  const denied = await request(port, "/cors", { headers: { origin: "https://evil.test" } });
  assert.equal(denied.status, 200);
  assert.equal(denied.headers["access-control-allow-origin"], undefined);
});

test("previous_hosts: a retry avoids the host that failed even when the hash points at it", async () => {
  // Find a key that hashes to the failing host (bad answers 503; without retries we see it).
  let key = "";
  for (let i = 0; i < 50 && !key; i++) {
    const before = bad.requests.length;
    await request(port, "/hosts", { headers: { "x-key": `k${i}` } });
    if (bad.requests.length > before) key = `k${i}`;
  }
  assert.ok(key, "some key hashes to the failing host");
  const badBefore = bad.requests.length;
  const goodBefore = good.requests.length;
  const r = await request(port, "/hosts", { headers: { "x-key": key } });
  assert.equal(r.status, 200);
  assert.equal(bad.requests.length - badBefore, 1);
  assert.equal(good.requests.length - goodBefore, 1);
});

test("retry budget: max_retries 0 stops retrying (UO), the upstream's answer is returned", async () => {
  flakyFailures = 5;
  const before = flaky.requests.length;
  const r = await request(port, "/budget");
  assert.equal(r.status, 503);
  assert.equal(flaky.requests.length - before, 1);
  assert.match(flagsOf("/budget") ?? "", /UO/);
  flakyFailures = 0;
});
