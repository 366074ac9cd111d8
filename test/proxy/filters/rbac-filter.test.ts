// The RBAC filters in a real proxy configured over xDS: DENY before ALLOW as two HTTP
// filters, the 403 body, remote_ip from x-forwarded-for vs the socket peer, per-route
// disable, LOG, stats, network RBAC closing a TCP connection, and NACK of a bad config.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { TestAdsServer } from "../helpers/ads-server.ts";
import { T, httpListener, request, routeConfig, serve, startProxy, startUpstream, staticCluster, vhost, type Json, type RunningProxy, type Upstream } from "../helpers/fixtures.ts";

const RBAC = "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC";
const RBAC_PER_ROUTE = "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBACPerRoute";
const NET_RBAC = "type.googleapis.com/envoy.extensions.filters.network.rbac.v3.RBAC";

let ads: TestAdsServer;
let proxy: RunningProxy;
let upstream: Upstream;
let tcpBackend: net.Server;
let tcpBackendPort = 0;
let tcpHits = 0;

const rbacFilter = (name: string, rules: Json | undefined, extra: Json = {}): Json => ({ name, typed_config: { "@type": RBAC, ...(rules ? { rules } : {}), ...extra } });
const anyone = [{ any: true }];

const routes = (name: string): Json =>
  routeConfig(name, [
    vhost("all", ["*"], [
      { match: { prefix: "/open" }, route: { cluster: "app" }, typed_per_filter_config: { "envoy.filters.http.rbac": { "@type": RBAC_PER_ROUTE }, "envoy.filters.http.rbac.allow": { "@type": RBAC_PER_ROUTE } } },
      { match: { prefix: "/" }, route: { cluster: "app" } },
    ]),
  ]);

const tcpListener = (name: string, rules: Json): Json => ({
  name,
  address: { socket_address: { address: "127.0.0.1", port_value: 0 } },
  filter_chains: [
    {
      filters: [
        { name: "envoy.filters.network.rbac", typed_config: { "@type": NET_RBAC, stat_prefix: name, rules } },
        { name: "envoy.filters.network.tcp_proxy", typed_config: { "@type": T.tcpProxy, stat_prefix: name, cluster: "tcp" } },
      ],
    },
  ],
});

before(async () => {
  ads = new TestAdsServer();
  await ads.start();
  upstream = await startUpstream(undefined, "app");
  tcpBackend = net.createServer((s) => {
    tcpHits++;
    s.on("error", () => s.destroy());
    s.end("hello from backend");
  });
  await new Promise<void>((r) => tcpBackend.listen(0, "127.0.0.1", r));
  tcpBackendPort = (tcpBackend.address() as net.AddressInfo).port;
  proxy = await startProxy(ads);
  await serve(ads, proxy, {
    clusters: [staticCluster("app", [upstream.port]), staticCluster("tcp", [tcpBackendPort])],
    listeners: [
      // Istio's order: the DENY filter, then the ALLOW filter.
      httpListener("two", {
        routeConfig: routes("two"),
        filters: [
          rbacFilter("envoy.filters.http.rbac", {
            action: "DENY",
            policies: { "ns[x]-policy[deny-admin]-rule[0]": { permissions: [{ url_path: { path: { prefix: "/admin" } } }], principals: anyone } },
          }, { rules_stat_prefix: "deny_" }),
          rbacFilter("envoy.filters.http.rbac.allow", {
            action: "ALLOW",
            policies: {
              "allow-get": { permissions: [{ header: { name: ":method", string_match: { exact: "GET" } } }], principals: anyone },
              "allow-alice": { permissions: anyone, principals: [{ header: { name: "x-user", string_match: { exact: "alice" } } }] },
            },
          }),
        ],
      }),
      httpListener("xff", {
        routeConfig: routes("xff"),
        filters: [
          rbacFilter("envoy.filters.http.rbac", {
            action: "ALLOW",
            policies: {
              "client-net": { permissions: anyone, principals: [{ remote_ip: { address_prefix: "203.0.113.0", prefix_len: 24 } }] },
              "peer-is-loopback-and-trusted-header": {
                permissions: [{ and_rules: { rules: [{ destination_port_range: { start: 1, end: 65536 } }, { header: { name: "x-trusted", present_match: true } }] } }],
                principals: [{ and_ids: { ids: [{ direct_remote_ip: { address_prefix: "127.0.0.1", prefix_len: 32 } }, { not_id: { authenticated: {} } }] } }],
              },
            },
          }),
        ],
      }),
      httpListener("log", { routeConfig: routes("log"), filters: [rbacFilter("envoy.filters.http.rbac", { action: "LOG", policies: { "log-posts": { permissions: [{ header: { name: ":method", string_match: { exact: "POST" } } }], principals: anyone } } })] }),
      tcpListener("tcp-deny", { action: "DENY", policies: { "no-loopback": { permissions: anyone, principals: [{ direct_remote_ip: { address_prefix: "127.0.0.0", prefix_len: 8 } }] } } }),
      tcpListener("tcp-allow", { action: "ALLOW", policies: { "loopback-port": { permissions: [{ destination_ip: { address_prefix: "127.0.0.1", prefix_len: 32 } }], principals: [{ remote_ip: { address_prefix: "127.0.0.1", prefix_len: 32 } }] } } }),
      tcpListener("tcp-mtls-only", { action: "ALLOW", policies: { mtls: { permissions: anyone, principals: [{ authenticated: { principal_name: { prefix: "spiffe://cluster.local/" } } }] } } }),
    ],
  });
});

after(async () => {
  await proxy.stop();
  await ads.stop();
  await upstream.close();
  await new Promise<void>((r) => tcpBackend.close(() => r()));
});

async function stat(name: string): Promise<number> {
  const res = await fetch(`${proxy.adminUrl}/stats?format=json`);
  const body = (await res.json()) as { stats: Array<{ name: string; value: number }> };
  return body.stats.find((s) => s.name === name)?.value ?? 0;
}

test("two RBAC filters: DENY is checked before ALLOW; unmatched by ALLOW → 403 RBAC: access denied", async () => {
  const port = proxy.port("two");
  const cases: Array<[string, string, Record<string, string>, number]> = [
    ["GET", "/items", {}, 200],
    ["POST", "/items", {}, 403],
    ["POST", "/items", { "x-user": "alice" }, 200],
    ["POST", "/items", { "x-user": "bob" }, 403],
    ["GET", "/admin/users", {}, 403],
    ["GET", "/admin/users", { "x-user": "alice" }, 403],
    ["GET", "/administrator", {}, 403],
  ];
  const before = upstream.requests.length;
  let forwarded = 0;
  for (const [method, path, headers, want] of cases) {
    const res = await request(port, path, { method, headers });
    assert.equal(res.status, want, `${method} ${path} ${JSON.stringify(headers)}`);
    if (want === 403) assert.equal(res.body, "RBAC: access denied");
    else forwarded++;
  }
  assert.equal(upstream.requests.length - before, forwarded, "denied requests never reach the app");
  assert.equal(await stat("http.two.rbac.deny_denied"), 3, "the DENY filter (rules_stat_prefix deny_) denied the three /admin requests");
  assert.equal(await stat("http.two.rbac.denied"), 2, "the ALLOW filter denied the two unmatched POSTs");
});

test("RBACPerRoute without rules disables RBAC on that route (per filter name)", async () => {
  assert.equal((await request(proxy.port("two"), "/open", { method: "POST" })).status, 200);
  assert.equal((await request(proxy.port("two"), "/opening", { method: "DELETE" })).status, 200, "prefix /open covers /opening too");
});

test("remote_ip reads x-forwarded-for, direct_remote_ip the socket peer", async () => {
  const port = proxy.port("xff");
  assert.equal((await request(port, "/", { headers: { "x-forwarded-for": "203.0.113.9" } })).status, 200);
  assert.equal((await request(port, "/", { headers: { "x-forwarded-for": "198.51.100.1" } })).status, 403);
  assert.equal((await request(port, "/")).status, 403, "the peer 127.0.0.1 is not in 203.0.113.0/24");
  assert.equal((await request(port, "/", { headers: { "x-trusted": "1" } })).status, 200, "direct_remote_ip 127.0.0.1 and not authenticated (plaintext)");
  assert.equal((await request(port, "/", { headers: { "x-trusted": "1", "x-forwarded-for": "198.51.100.1" } })).status, 200, "direct_remote_ip ignores x-forwarded-for");
});

test("LOG lets everything through and counts what it would log", async () => {
  const port = proxy.port("log");
  assert.equal((await request(port, "/", { method: "POST" })).status, 200);
  assert.equal((await request(port, "/")).status, 200);
  assert.equal(await stat("http.log.rbac.logged"), 1);
  assert.equal(await stat("http.log.rbac.not_logged"), 1);
});

/** Connect, send a line, collect what comes back until the proxy or backend closes. */
function tcpExchange(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, "127.0.0.1");
    let got = "";
    s.setTimeout(10_000, () => s.destroy(new Error("timed out")));
    s.on("connect", () => s.write("hi\n"));
    s.on("data", (d) => (got += d.toString()));
    s.on("error", (err: NodeJS.ErrnoException) => (err.code === "ECONNRESET" || err.code === "EPIPE" ? resolve(got) : reject(err)));
    s.on("close", () => resolve(got));
  });
}

test("network RBAC: a denied TCP connection is closed before the upstream sees it", async () => {
  const hits = tcpHits;
  assert.equal(await tcpExchange(proxy.port("tcp-deny")), "");
  assert.equal(await tcpExchange(proxy.port("tcp-mtls-only")), "", "plaintext is not authenticated");
  assert.equal(tcpHits, hits, "the backend was never connected");
  assert.equal(await tcpExchange(proxy.port("tcp-allow")), "hello from backend");
  assert.equal(tcpHits, hits + 1);
  assert.equal(await stat("tcp-deny.rbac.denied"), 1);
  assert.equal(await stat("tcp-allow.rbac.allowed"), 1);
});

test("an RBAC config the proxy cannot honour is NACKed with the field path", async () => {
  const good = ads.version("LDS");
  const bad = httpListener("bad", {
    routeConfig: routes("bad"),
    filters: [rbacFilter("envoy.filters.http.rbac", { policies: { p: { permissions: [{ requested_server_name: { exact: "x" } }], principals: [{ filter_state: { key: "k", string_match: { exact: "v" } } }] } } })],
  });
  ads.set("LDS", [bad]);
  const nack = await ads.waitForNack("LDS");
  assert.match(nack.error!, /listener bad: .*http_filters\[0\]\.typed_config\.rules\.policies\.p\.principals\[0\]\.filter_state: RBAC principal "filter_state" is not implemented/);
  assert.equal((await request(proxy.port("two"), "/items")).status, 200, "the previous listeners keep serving");
  void good;
});
