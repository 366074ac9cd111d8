// Request-handling benchmark for the proxy's hot path.
//  1. micro: virtual host + route selection and header mutation on a realistic route
//     table (what every request pays before it goes upstream), ops/s and ns/op;
//  2. end to end, in process: HTTP/1.1 keep-alive requests through a proxy (static
//     bootstrap resources, no xDS needed) to a loopback upstream, requests/s.
// Run: npm run bench:proxy   (BENCH_SECONDS=2 to change the micro-benchmark duration)
import http from "node:http";
import type { AddressInfo } from "node:net";
import { RouteTable } from "../../src/proxy/route-table.ts";
import { Proxy, parseBootstrap, Logger } from "../../src/proxy/index.ts";

type Json = Record<string, unknown>;
const seconds = Number(process.env.BENCH_SECONDS ?? 1);

function routeConfigJson(): Json {
  const vhosts: Json[] = [];
  for (let s = 0; s < 50; s++) {
    const host = `svc${s}.default.svc.cluster.local`;
    vhosts.push({
      name: `${host}:80`,
      domains: [host, `${host}:80`, `svc${s}`, `svc${s}:80`, `svc${s}.default`],
      routes: [
        { match: { prefix: "/api/v2/", headers: [{ name: "x-canary", string_match: { exact: "true" } }] }, route: { cluster: `outbound|80|v2|${host}` } },
        { match: { safe_regex: { regex: "/items/[0-9]+" } }, route: { cluster: `outbound|80|v1|${host}` } },
        {
          match: { prefix: "/" },
          route: { weighted_clusters: { clusters: [{ name: `outbound|80|v1|${host}`, weight: 90 }, { name: `outbound|80|v2|${host}`, weight: 10 }] } },
          request_headers_to_add: [{ header: { key: "x-route", value: "default" } }],
        },
      ],
      request_headers_to_add: [{ header: { key: "x-vhost", value: host } }],
    });
  }
  return { name: "80", virtual_hosts: vhosts, request_headers_to_remove: ["x-internal"] };
}

function micro(): void {
  const table = new RouteTable(routeConfigJson());
  const requests: Array<{ host: string; path: string; headers: Record<string, string> }> = [
    { host: "svc42:80", path: "/api/v2/users", headers: { "x-canary": "true", "user-agent": "bench" } },
    { host: "svc7.default.svc.cluster.local", path: "/items/1234", headers: { "user-agent": "bench" } },
    { host: "svc19", path: "/index.html", headers: { "user-agent": "bench", "x-internal": "1" } },
  ];
  let ops = 0;
  let sink = 0;
  const deadline = process.hrtime.bigint() + BigInt(Math.round(seconds * 1e9));
  const start = process.hrtime.bigint();
  while (process.hrtime.bigint() < deadline) {
    for (let i = 0; i < 1000; i++) {
      const r = requests[i % 3];
      const headers: Record<string, string> = { ...r.headers };
      const vh = table.selectVirtualHost(r.host)!;
      const route = table.selectRoute(vh, { path: r.path, query: "", header: (n) => headers[n] })!;
      route.requestHeaders.apply(headers);
      vh.requestHeaders.apply(headers);
      table.requestHeaders.apply(headers);
      sink += route.name.length + Object.keys(headers).length;
      ops++;
    }
  }
  const ns = Number(process.hrtime.bigint() - start);
  console.log(`route match + header mutation: ${Math.round((ops / ns) * 1e9).toLocaleString("en")} ops/s, ${(ns / ops).toFixed(0)} ns/op (${ops} ops${sink < 0 ? "" : ""})`);
}

async function endToEnd(): Promise<void> {
  const upstream = http.createServer((_req, res) => res.end("ok"));
  await new Promise<void>((r) => upstream.listen(0, "127.0.0.1", r));
  const upstreamPort = (upstream.address() as AddressInfo).port;
  const bootstrap = parseBootstrap(
    {
      node: { id: "sidecar~127.0.0.1~bench.default~default.svc.cluster.local" },
      admin: { address: { socket_address: { address: "127.0.0.1", port_value: 0 } } },
      static_resources: {
        clusters: [
          {
            name: "app",
            type: "STATIC",
            connect_timeout: "1s",
            load_assignment: { cluster_name: "app", endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: upstreamPort } } } }] }] },
          },
        ],
        listeners: [
          {
            name: "bench",
            address: { socket_address: { address: "127.0.0.1", port_value: 0 } },
            filter_chains: [
              {
                filters: [
                  {
                    name: "envoy.filters.network.http_connection_manager",
                    typed_config: {
                      "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                      stat_prefix: "bench",
                      route_config: { name: "bench", virtual_hosts: [{ name: "all", domains: ["*"], routes: [{ match: { prefix: "/" }, route: { cluster: "app" } }] }] },
                      http_filters: [{ name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } }],
                    },
                  },
                ],
              },
            ],
          },
        ],
      },
    },
    "bench",
  );
  const proxy = new Proxy({ bootstrap, logger: new Logger("off") });
  await proxy.start();
  await proxy.waitReady();
  const total = Math.max(2000, Math.round(4000 * seconds));
  const direct = await load(upstreamPort, total);
  const proxied = await load(proxy.listeners.boundPort("bench")!, total);
  console.log(`direct to the upstream (baseline, same client): ${direct.toLocaleString("en")} req/s`);
  console.log(`through the proxy (h1 keep-alive, 16 concurrent, loopback upstream): ${proxied.toLocaleString("en")} req/s (${total} requests; ${(proxied / direct * 100).toFixed(0)}% of direct)`);
  await proxy.stop();
  upstream.closeAllConnections();
  upstream.close();
}

/** Requests per second for `total` GETs, 16 at a time over keep-alive connections. */
async function load(port: number, total: number): Promise<number> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  const get = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const req = http.get({ host: "127.0.0.1", port, path: "/", agent }, (res) => {
        res.resume();
        res.on("end", () => resolve());
      });
      req.on("error", reject);
    });
  for (let i = 0; i < 200; i++) await get(); // warm up
  let sent = 0;
  const start = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (sent < total) {
        sent++;
        await get();
      }
    }),
  );
  const ns = Number(process.hrtime.bigint() - start);
  agent.destroy();
  return Math.round((total / ns) * 1e9);
}

micro();
await endToEnd();
