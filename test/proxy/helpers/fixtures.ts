// Builders for the Envoy resources the proxy tests serve over xDS, a real loopback
// upstream that records what it received, and an in-process proxy bound to a test ADS server.
import http from "node:http";
import type { AddressInfo } from "node:net";
import { Proxy, parseBootstrap, Logger } from "../../../src/proxy/index.ts";
import type { TestAdsServer } from "./ads-server.ts";

export type Json = Record<string, unknown>;

export const T = {
  hcm: "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
  router: "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router",
  fault: "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault",
  cors: "type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors",
  corsPolicy: "type.googleapis.com/envoy.extensions.filters.http.cors.v3.CorsPolicy",
  tcpProxy: "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
};

export const routerFilter = { name: "envoy.filters.http.router", typed_config: { "@type": T.router } };

/** A listener on 127.0.0.1:0 with one HCM chain (RDS by default). */
export function httpListener(name: string, opts: { rds?: string; routeConfig?: Json; filters?: Json[]; hcm?: Json; port?: number } = {}): Json {
  const hcm: Json = {
    "@type": T.hcm,
    stat_prefix: name,
    http_filters: [...(opts.filters ?? []), routerFilter],
    ...(opts.routeConfig ? { route_config: opts.routeConfig } : { rds: { route_config_name: opts.rds ?? name, config_source: { ads: {} } } }),
    ...opts.hcm,
  };
  return {
    name,
    address: { socket_address: { address: "127.0.0.1", port_value: opts.port ?? 0 } },
    filter_chains: [{ filters: [{ name: "envoy.filters.network.http_connection_manager", typed_config: hcm }] }],
  };
}

export function routeConfig(name: string, virtualHosts: Json[], extra: Json = {}): Json {
  return { name, virtual_hosts: virtualHosts, ...extra };
}

export function vhost(name: string, domains: string[], routes: Json[], extra: Json = {}): Json {
  return { name, domains, routes, ...extra };
}

export function staticCluster(name: string, ports: number[], extra: Json = {}): Json {
  return {
    name,
    type: "STATIC",
    connect_timeout: "1s",
    load_assignment: {
      cluster_name: name,
      endpoints: [{ lb_endpoints: ports.map((port) => ({ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: port } } } })) }],
    },
    ...extra,
  };
}

export function edsCluster(name: string, extra: Json = {}): Json {
  return { name, type: "EDS", connect_timeout: "1s", eds_cluster_config: { eds_config: { ads: {} } }, ...extra };
}

export function loadAssignment(name: string, ports: number[]): Json {
  return {
    cluster_name: name,
    endpoints: [{ lb_endpoints: ports.map((port) => ({ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: port } } } })) }],
  };
}

export interface SeenUpstreamRequest {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export interface Upstream {
  port: number;
  requests: SeenUpstreamRequest[];
  server: http.Server;
  close(): Promise<void>;
}

/** A real node:http server on 127.0.0.1:0; the default handler echoes what it got as JSON. */
export async function startUpstream(
  handler?: (req: http.IncomingMessage, res: http.ServerResponse, body: string) => void,
  name = "upstream",
): Promise<Upstream> {
  const requests: SeenUpstreamRequest[] = [];
  const server = http.createServer((req, res) => {
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (c: string) => (body += c));
    req.on("end", () => {
      requests.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers, body });
      if (handler) handler(req, res, body);
      else {
        res.writeHead(200, { "content-type": "application/json", "x-upstream": name });
        res.end(JSON.stringify({ name, method: req.method, url: req.url, headers: req.headers, body }));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as AddressInfo).port,
    requests,
    server,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export interface RunningProxy {
  proxy: Proxy;
  adminUrl: string;
  /** The port a listener is bound to. */
  port(listener: string): number;
  stop(): Promise<void>;
}

export async function startProxy(ads: TestAdsServer, opts: { nodeId?: string; warmingTimeoutMs?: number; random?: () => number } = {}): Promise<RunningProxy> {
  const bootstrap = parseBootstrap(
    {
      node: { id: opts.nodeId ?? "sidecar~127.0.0.1~test.default~default.svc.cluster.local", cluster: "test" },
      admin: { address: { socket_address: { address: "127.0.0.1", port_value: 0 } } },
      xds_address: ads.address,
      initial_fetch_timeout_ms: opts.warmingTimeoutMs ?? 10_000,
      drain_timeout_ms: 5_000,
    },
    "test-bootstrap",
  );
  const proxy = new Proxy({ bootstrap, logger: new Logger(process.env.SKIFF_TEST_LOG ? "debug" : "off"), random: opts.random });
  await proxy.start();
  return {
    proxy,
    adminUrl: `http://127.0.0.1:${proxy.admin.port}`,
    port(listener: string): number {
      const p = proxy.listeners.boundPort(listener);
      if (p === undefined) throw new Error(`listener ${listener} is not bound`);
      return p;
    },
    stop: () => proxy.stop(),
  };
}

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** One HTTP/1.1 request to 127.0.0.1 (no keep-alive, so tests do not leak sockets). */
export function request(port: number, path: string, opts: { method?: string; headers?: Record<string, string>; body?: string; host?: string } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: "127.0.0.1", port, path, method: opts.method ?? "GET", headers: { host: opts.host ?? "example.com", ...opts.headers }, agent: false },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => (body += c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.setTimeout(10_000, () => req.destroy(new Error("request timed out")));
    req.on("error", reject);
    req.end(opts.body);
  });
}

/** Serve a full config (CDS, EDS, LDS, RDS) and wait until the proxy is LIVE. */
export async function serve(ads: TestAdsServer, running: RunningProxy, cfg: { clusters?: Json[]; endpoints?: Json[]; listeners?: Json[]; routes?: Json[] }): Promise<void> {
  if (cfg.endpoints) ads.set("EDS", cfg.endpoints);
  if (cfg.routes) ads.set("RDS", cfg.routes);
  ads.set("CDS", cfg.clusters ?? []);
  ads.set("LDS", cfg.listeners ?? []);
  await running.proxy.waitReady(8000);
}
