// Test helpers: real loopback upstreams and cluster JSON builders.
import http from "node:http";
import http2 from "node:http2";
import net from "node:net";
import type { AddressInfo } from "node:net";
import type { EnvoyJson, UpstreamCluster, UpstreamHttpResult } from "../../../src/proxy/upstream/index.ts";

export interface TestServer {
  port: number;
  /** TCP connections accepted so far. */
  connections: number;
  /** Requests handled so far. */
  requests: number;
  close(): Promise<void>;
}

/** An HTTP/1.1 server on 127.0.0.1 answering with `handler` (default: 200 with its name). */
export async function startHttp1(name: string, handler?: (req: http.IncomingMessage, res: http.ServerResponse) => void): Promise<TestServer> {
  const sockets = new Set<net.Socket>();
  const state = { connections: 0, requests: 0 };
  const server = http.createServer((req, res) => {
    state.requests++;
    if (handler) return handler(req, res);
    req.resume();
    req.on("end", () => res.end(name));
  });
  server.keepAliveTimeout = 30_000;
  server.on("connection", (s) => {
    state.connections++;
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    port: (server.address() as AddressInfo).port,
    get connections() { return state.connections; },
    get requests() { return state.requests; },
    close: () => new Promise<void>((r) => {
      for (const s of sockets) s.destroy();
      server.close(() => r());
    }),
  };
}

/** An h2c server on 127.0.0.1 answering 200 with its name; counts sessions. */
export async function startHttp2(name: string, handler?: (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => void): Promise<TestServer> {
  const state = { connections: 0, requests: 0 };
  const sessions = new Set<http2.ServerHttp2Session>();
  const server = http2.createServer();
  server.on("session", (s) => {
    state.connections++;
    sessions.add(s);
    s.on("close", () => sessions.delete(s));
  });
  server.on("stream", (stream, headers) => {
    state.requests++;
    stream.on("error", () => {}); // resets are what some tests provoke
    if (handler) return handler(stream, headers);
    stream.respond({ ":status": 200 });
    stream.end(name);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    port: (server.address() as AddressInfo).port,
    get connections() { return state.connections; },
    get requests() { return state.requests; },
    close: () => new Promise<void>((r) => {
      for (const s of sessions) s.destroy();
      server.close(() => r());
    }),
  };
}

/** A port on 127.0.0.1 that nothing listens on (bound then closed). */
export async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

export function endpoint(port: number, extra: EnvoyJson = {}, address = "127.0.0.1"): EnvoyJson {
  return { endpoint: { address: { socket_address: { address, port_value: port } } }, ...extra };
}

/** A STATIC cluster over the given lb_endpoints. */
export function staticCluster(name: string, lbEndpoints: EnvoyJson[], extra: EnvoyJson = {}): EnvoyJson {
  return {
    "@type": "type.googleapis.com/envoy.config.cluster.v3.Cluster",
    name,
    type: "STATIC",
    connect_timeout: "1s",
    load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: lbEndpoints }] },
    ...extra,
  };
}

/** Deterministic PRNG (mulberry32) for injected randomness. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** GET through the cluster's selected host; returns the result and the body text when there is one. */
export async function get(cluster: UpstreamCluster, path = "/", headers: Record<string, string> = {}): Promise<{ result: UpstreamHttpResult; body?: string }> {
  const host = cluster.selectHost({});
  if (!host) throw new Error(`no host in ${cluster.name}`);
  const result = await cluster.httpRequest(host, { method: "GET", path, authority: "test", headers });
  if (result.kind !== "response") return { result };
  const chunks: Buffer[] = [];
  for await (const c of result.body) chunks.push(c as Buffer);
  return { result, body: Buffer.concat(chunks).toString() };
}

/** Count how many of `n` selections land on each port. */
export function distribution(cluster: UpstreamCluster, n: number, ctx: Parameters<UpstreamCluster["selectHost"]>[0] = {}): Map<number, number> {
  const counts = new Map<number, number>();
  for (let i = 0; i < n; i++) {
    const h = cluster.selectHost(ctx);
    if (h) counts.set(h.port, (counts.get(h.port) ?? 0) + 1);
  }
  return counts;
}
