// The upstream half through the whole proxy, configured only over xDS (the front half's
// test ADS server and fixtures): EDS membership and round robin, circuit breaker overflow
// answered 503 with flag UO, outlier ejection taking a failing host out of rotation, and
// ring-hash stickiness from a header hash policy over EDS.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { TestAdsServer } from "../helpers/ads-server.ts";
import { formatResponseFlags } from "../../../src/proxy/index.ts";
import { edsCluster, httpListener, loadAssignment, request, routeConfig, serve, startProxy, startUpstream, vhost, type RunningProxy, type Upstream } from "../helpers/fixtures.ts";

let ads: TestAdsServer;
let proxy: RunningProxy;
let port: number;
const ups: Upstream[] = [];
let bad: Upstream;
const held: Array<() => void> = [];
let slow: Upstream;
const completed: Array<{ path: string; code: number; flags: string }> = [];

const routes = () => [
  routeConfig("r", [
    vhost("all", ["*"], [
      { match: { prefix: "/rr" }, route: { cluster: "rr" } },
      { match: { prefix: "/cb" }, route: { cluster: "cb", timeout: "0s" } },
      { match: { prefix: "/od" }, route: { cluster: "od" } },
      { match: { prefix: "/hash" }, route: { cluster: "hash", hash_policy: [{ header: { header_name: "x-user" } }] } },
    ]),
  ]),
];

before(async () => {
  ads = new TestAdsServer();
  await ads.start();
  for (const n of ["a", "b", "c"]) ups.push(await startUpstream(undefined, n));
  bad = await startUpstream((_req, res) => {
    res.writeHead(500);
    res.end("broken");
  }, "bad");
  slow = await startUpstream((_req, res) => held.push(() => res.end("slow")), "slow");
  proxy = await startProxy(ads);
  proxy.proxy.observers.push((ctx) => completed.push({ path: ctx.path, code: ctx.responseCode, flags: formatResponseFlags(ctx.responseFlags) }));
  const three = ups.map((u) => u.port);
  await serve(ads, proxy, {
    clusters: [
      edsCluster("rr"),
      edsCluster("cb", { circuit_breakers: { thresholds: [{ max_requests: 1 }] } }),
      edsCluster("od", { outlier_detection: { consecutive_5xx: 2, interval: "60s", base_ejection_time: "60s", max_ejection_percent: 50 } }),
      edsCluster("hash", { lb_policy: "RING_HASH" }),
    ],
    endpoints: [loadAssignment("rr", three), loadAssignment("cb", [slow.port]), loadAssignment("od", [...three, bad.port]), loadAssignment("hash", three)],
    listeners: [httpListener("http", { rds: "r" })],
    routes: routes(),
  });
  port = proxy.port("http");
});

after(async () => {
  for (const f of held.splice(0)) f();
  await proxy.stop();
  await ads.stop();
  await Promise.all([...ups, bad, slow].map((u) => u.close()));
});

const nameOf = (body: string) => (JSON.parse(body) as { name: string }).name;

test("EDS round robin spreads requests over the endpoints, and follows an EDS update", async () => {
  const names: string[] = [];
  for (let i = 0; i < 6; i++) names.push(nameOf((await request(port, "/rr")).body));
  assert.deepEqual([...names].sort(), ["a", "a", "b", "b", "c", "c"]);
  ads.set("EDS", [loadAssignment("rr", [ups[0].port]), loadAssignment("cb", [slow.port]), loadAssignment("od", [...ups.map((u) => u.port), bad.port]), loadAssignment("hash", ups.map((u) => u.port))]);
  // Wait until the proxy applied it: only "a" answers.
  let seen = new Set<string>();
  for (let round = 0; round < 50; round++) {
    seen = new Set<string>();
    for (let i = 0; i < 3; i++) seen.add(nameOf((await request(port, "/rr")).body));
    if (seen.size === 1) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.deepEqual([...seen], ["a"]);
});

test("circuit breaker overflow answers 503 with response flag UO", async () => {
  const first = request(port, "/cb/1");
  for (let i = 0; i < 200 && held.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(held.length, 1);
  const second = await request(port, "/cb/2");
  assert.equal(second.status, 503);
  assert.equal(completed.findLast((c) => c.path === "/cb/2")?.flags, "UO");
  for (const f of held.splice(0)) f();
  assert.equal((await first).status, 200);
  const stats = await (await fetch(`${proxy.adminUrl}/stats`)).text();
  assert.match(stats, /cluster\.cb\.upstream_rq_pending_overflow: 1/);
});

test("outlier detection ejects the host that keeps answering 5xx", async () => {
  let badHits = 0;
  for (let i = 0; i < 12; i++) {
    const r = await request(port, "/od");
    if (r.status === 500) badHits++;
  }
  // Round robin over 4 hosts sends the bad one its 2nd request by request 8; then it is out.
  assert.equal(badHits, 2);
  assert.equal(bad.requests.length, 2);
  const clusters = await (await fetch(`${proxy.adminUrl}/clusters`)).text();
  assert.match(clusters, new RegExp(`od::127\\.0\\.0\\.1:${bad.port}::health_flags::/failed_outlier_check`));
});

test("ring hash over EDS: a header hash keeps each user on one host", async () => {
  const byUser = new Map<string, Set<string>>();
  for (let round = 0; round < 3; round++) {
    for (let u = 0; u < 8; u++) {
      const r = await request(port, "/hash", { headers: { "x-user": `user-${u}` } });
      const set = byUser.get(`user-${u}`) ?? new Set<string>();
      set.add(nameOf(r.body));
      byUser.set(`user-${u}`, set);
    }
  }
  for (const [user, hosts] of byUser) assert.equal(hosts.size, 1, `${user} moved between ${[...hosts]}`);
});
