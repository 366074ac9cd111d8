// TCP proxying (echo through a cluster, passthrough to the original destination, blackhole,
// connect failure), ORIGINAL_DST for HTTP, and STRICT_DNS resolving localhost.
import { test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import type { AddressInfo } from "node:net";
import { ClusterManager, tcpProxy } from "../../../src/proxy/upstream/index.ts";
import type { LbContext, TcpProxySessionInfo, UpstreamCluster } from "../../../src/proxy/upstream/index.ts";
import { closedPort, endpoint, get, startHttp1, staticCluster } from "./helpers.ts";

async function echoServer(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
    s.pipe(s);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((r) => {
      for (const s of sockets) s.destroy();
      server.close(() => r());
    }),
  };
}

/** A listener that hands each connection to tcpProxy; resolves sessions' summaries. */
async function proxyListener(cluster: () => UpstreamCluster | undefined, ctx: LbContext = {}, idleTimeoutMs?: number) {
  const sessions: TcpProxySessionInfo[] = [];
  const server = net.createServer((s) => tcpProxy(s, cluster(), ctx, { idleTimeoutMs, onClose: (i) => sessions.push(i) }));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { port: (server.address() as AddressInfo).port, sessions, close: () => new Promise<void>((r) => server.close(() => r())) };
}

/** Connect, send `text`, read until the peer closes or `expect` bytes arrive. */
async function roundTrip(port: number, text: string, expect: number): Promise<{ data: string; closedByPeer: boolean }> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, "127.0.0.1");
    let data = "";
    s.on("error", reject);
    s.on("data", (d) => {
      data += d.toString();
      if (data.length >= expect) {
        s.end();
        resolve({ data, closedByPeer: false });
      }
    });
    s.on("close", () => resolve({ data, closedByPeer: true }));
    s.write(text);
  });
}

async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 400 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
  assert.ok(cond(), "condition not reached");
}

test("tcp_proxy pipes bytes both ways to a cluster host and counts the connection", async () => {
  const echo = await echoServer();
  const cm = new ClusterManager();
  cm.applyClusters([staticCluster("tcp", [endpoint(echo.port)])]);
  const l = await proxyListener(() => cm.get("tcp"));
  try {
    const r = await roundTrip(l.port, "hello through the mesh", 22);
    assert.equal(r.data, "hello through the mesh");
    await until(() => l.sessions.length === 1);
    assert.deepEqual(l.sessions[0].responseFlags, []);
    assert.equal(l.sessions[0].bytesReceived, 22);
    assert.equal(l.sessions[0].bytesSent, 22);
    assert.equal(cm.get("tcp")!.stats.upstream_cx_total, 1);
    await until(() => cm.get("tcp")!.stats.upstream_cx_active === 0);
  } finally {
    await l.close();
    await cm.close();
    await echo.close();
  }
});

test("tcp_proxy: idle timeout closes a silent connection", async () => {
  const echo = await echoServer();
  const cm = new ClusterManager();
  cm.applyClusters([staticCluster("tcp", [endpoint(echo.port)])]);
  const l = await proxyListener(() => cm.get("tcp"), {}, 50);
  try {
    const r = await roundTrip(l.port, "x", 1000);
    assert.equal(r.closedByPeer, true);
    await until(() => l.sessions.length === 1);
    assert.equal(l.sessions[0].reason, "idle_timeout");
  } finally {
    await l.close();
    await cm.close();
    await echo.close();
  }
});

test("passthrough (ORIGINAL_DST) connects to the original destination; blackhole and dead hosts close", async () => {
  const echo = await echoServer();
  const dead = await closedPort();
  const cm = new ClusterManager();
  const r = cm.applyClusters([
    { name: "PassthroughCluster", type: "ORIGINAL_DST", lb_policy: "CLUSTER_PROVIDED", connect_timeout: "1s" },
    { name: "BlackHoleCluster", type: "STATIC", connect_timeout: "1s" },
    staticCluster("dead", [endpoint(dead)]),
  ]);
  assert.deepEqual(r.errors, []);
  const pass = await proxyListener(() => cm.get("PassthroughCluster"), { originalDestination: { address: "127.0.0.1", port: echo.port } });
  const hole = await proxyListener(() => cm.get("BlackHoleCluster"));
  const deadL = await proxyListener(() => cm.get("dead"));
  const unknown = await proxyListener(() => cm.get("no-such-cluster"));
  try {
    assert.equal((await roundTrip(pass.port, "passthrough", 11)).data, "passthrough");
    const h = await roundTrip(hole.port, "dropped", 100);
    assert.deepEqual(h, { data: "", closedByPeer: true });
    await until(() => hole.sessions.length === 1);
    assert.deepEqual(hole.sessions[0].responseFlags, ["UH"]);
    assert.deepEqual(await roundTrip(deadL.port, "x", 100), { data: "", closedByPeer: true });
    await until(() => deadL.sessions.length === 1);
    assert.deepEqual(deadL.sessions[0].responseFlags, ["UF"]);
    await roundTrip(unknown.port, "x", 100);
    await until(() => unknown.sessions.length === 1);
    assert.deepEqual(unknown.sessions[0].responseFlags, ["NC"]);
  } finally {
    await Promise.all([pass.close(), hole.close(), deadL.close(), unknown.close()]);
    await cm.close();
    await echo.close();
  }
});

test("ORIGINAL_DST for HTTP: a host per destination, cleaned up once unused", async () => {
  const a = await startHttp1("a");
  const b = await startHttp1("b");
  const sweeps: Array<() => void> = [];
  const cm = new ClusterManager({ setInterval: (fn) => { sweeps.push(fn); return fn; }, clearInterval: () => {} });
  cm.applyClusters([{ name: "orig", type: "ORIGINAL_DST", lb_policy: "CLUSTER_PROVIDED", connect_timeout: "1s", cleanup_interval: "5s" }]);
  const c = cm.get("orig")!;
  try {
    const send = async (port: number) => {
      const host = c.selectHost({ originalDestination: { address: "127.0.0.1", port } })!;
      const r = await c.httpRequest(host, { method: "GET", path: "/", authority: "t", headers: {} });
      assert.equal(r.kind, "response");
      const chunks: Buffer[] = [];
      if (r.kind === "response") for await (const ch of r.body) chunks.push(ch as Buffer);
      return Buffer.concat(chunks).toString();
    };
    assert.equal(await send(a.port), "a");
    assert.equal(await send(b.port), "b");
    assert.equal(await send(a.port), "a");
    assert.equal(c.hosts().length, 2);
    assert.equal(c.selectHost({}), null, "no original destination, no host");
    await cm.close(); // closes connections, so hosts become idle
    await until(() => c.stats.upstream_cx_active === 0);
    sweeps[0](); // first sweep: both were used since the last one
    assert.equal(c.hosts().length, 2);
    sweeps[0](); // second sweep: unused for a whole interval → removed
    assert.equal(c.hosts().length, 0);
  } finally {
    await cm.close();
    await a.close();
    await b.close();
  }
});

test("STRICT_DNS resolves localhost, warms after the first resolution, and serves", async () => {
  const s = await startHttp1("dns");
  const cm = new ClusterManager({ resolve: undefined });
  cm.applyClusters([{
    name: "dns", type: "STRICT_DNS", connect_timeout: "1s", dns_lookup_family: "V4_ONLY", dns_refresh_rate: "60s",
    load_assignment: { cluster_name: "dns", endpoints: [{ lb_endpoints: [endpoint(s.port, {}, "localhost")] }] },
  }]);
  const c = cm.get("dns")!;
  try {
    await until(() => !c.warming);
    assert.deepEqual(c.hosts().map((h) => `${h.address}:${h.port}`), [`127.0.0.1:${s.port}`]);
    assert.equal(c.hosts()[0].hostname, "localhost");
    assert.equal((await get(c)).body, "dns");
  } finally {
    await cm.close();
    await s.close();
  }
});

test("STRICT_DNS re-resolves at dns_refresh_rate and follows address changes", async () => {
  let answer = ["127.0.0.1"];
  const refresh: Array<() => void> = [];
  const cm = new ClusterManager({
    resolve: async (name) => (name === "svc.example" ? answer : []),
    setInterval: (fn) => { refresh.push(fn); return fn; },
    clearInterval: () => {},
  });
  cm.applyClusters([{
    name: "d", type: "STRICT_DNS", connect_timeout: "1s",
    load_assignment: { cluster_name: "d", endpoints: [{ lb_endpoints: [endpoint(8080, {}, "svc.example")] }] },
  }]);
  const c = cm.get("d")!;
  await until(() => !c.warming);
  assert.deepEqual(c.hosts().map((h) => h.address), ["127.0.0.1"]);
  answer = ["127.0.0.2", "127.0.0.3"];
  refresh[0]();
  await until(() => c.hosts().length === 2);
  assert.deepEqual(c.hosts().map((h) => h.address), ["127.0.0.2", "127.0.0.3"]);
  await cm.close();
});
