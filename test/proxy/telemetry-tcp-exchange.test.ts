// Istio's TCP metadata exchange between two proxies, as between two sidecars: a client proxy
// tcp_proxies to a server proxy over mesh mTLS (translation's own TLS contexts, ALPN
// istio-peer-exchange) whose TCP chain carries translation's istio.metadata_exchange and
// istio.stats filters. Both sides' istio_tcp_* series name the other side's workload, the
// app sees only its own bytes, and a plaintext connection is left untouched.
import { test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import http from "node:http";
import type { Svid } from "../../src/agent/index.ts";
import { Proxy, parseBootstrap, Logger } from "../../src/proxy/index.ts";
import { meshDownstreamSocket, meshUpstreamSocket, meshSni } from "../../src/pilot/translate/security/identity.ts";
import { tcpMetadataExchange } from "../../src/pilot/translate/telemetry/stats.ts";
import { STATS_FILTER, statsConfig } from "../../src/pilot/translate/telemetry/index.ts";
import { parseExposition } from "../../src/telemetry/index.ts";
import { decodeExchange, encodeExchange, readExchange, PEER_EXCHANGE_MAGIC } from "../../src/proxy/telemetry-tcp-exchange.ts";
import { withTempDir } from "../ca/helpers.ts";
import { ID, listener, svids } from "./helpers/mesh-identity.ts";
import { staticCluster, T, type Json } from "./helpers/fixtures.ts";

const CLIENT_ID = "sidecar~127.0.0.1~orders-7d9f.demo~demo.svc.cluster.local";
const SERVER_ID = "sidecar~127.0.0.1~db-0.demo~demo.svc.cluster.local";

function tcpProxy(cluster: string): Json {
  return { name: "envoy.filters.network.tcp_proxy", typed_config: { "@type": T.tcpProxy, stat_prefix: cluster, cluster } };
}

async function startProxy(id: string, metadata: Json, listeners: Json[], clusters: Json[], svid: Svid): Promise<Proxy> {
  const bootstrap = parseBootstrap(
    { node: { id, metadata }, admin: { address: { socket_address: { address: "127.0.0.1", port_value: 0 } } }, static_resources: { listeners, clusters } },
    "tcp-exchange",
  );
  const proxy = new Proxy({ bootstrap, logger: new Logger(process.env.SKIFF_TEST_LOG ? "debug" : "off") });
  await proxy.start();
  proxy.secrets.set([{ name: "default", secret: { certificateChain: svid.certChainPem, privateKey: svid.keyPem } }, { name: "ROOTCA", secret: { trustedCa: svid.rootsPem } }], svid.serial);
  await proxy.waitReady();
  return proxy;
}

function scrape(proxy: Proxy): Promise<ReturnType<typeof parseExposition>> {
  return new Promise((resolve, reject) => {
    http
      .get(`http://127.0.0.1:${proxy.admin.port}/stats/prometheus`, { agent: false }, (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => (body += c));
        res.on("end", () => resolve(parseExposition(body)));
      })
      .on("error", reject);
  });
}

/** Sends `payload` through the client proxy and returns what came back once the echo app closed. */
async function roundTrip(port: number, payload: string): Promise<string> {
  const sock = net.connect(port, "127.0.0.1");
  let got = "";
  sock.setEncoding("utf8");
  sock.on("data", (c: string) => (got += c));
  await new Promise<void>((r) => sock.once("connect", () => r()));
  sock.write(payload);
  for (let i = 0; i < 200 && got.length < payload.length; i++) await new Promise((r) => setTimeout(r, 10));
  await new Promise<void>((r) => {
    sock.once("close", () => r());
    sock.end();
  });
  return got;
}

async function series(proxy: Proxy, name: string, want: (labels: Record<string, string>) => boolean): Promise<{ labels: Record<string, string>; value: number }[]> {
  let found: { labels: Record<string, string>; value: number }[] = [];
  for (let i = 0; i < 100 && found.length === 0; i++) {
    found = ((await scrape(proxy)).find((f) => f.name === name)?.samples ?? []).filter((s) => want(s.labels));
    if (found.length === 0) await new Promise((r) => setTimeout(r, 20));
  }
  return found;
}

test("the preamble is Istio's frame: magic, length, Any(Struct) with the peer's metadata and id", () => {
  const bytes = encodeExchange(CLIENT_ID, { WORKLOAD_NAME: "orders", NAMESPACE: "demo", LABELS: { app: "orders", version: "v2" } });
  assert.equal(bytes.readUInt32BE(0), PEER_EXCHANGE_MAGIC);
  assert.equal(bytes.readUInt32BE(4), bytes.length - 8);
  const peer = decodeExchange(bytes.subarray(8));
  assert.equal(peer?.id, CLIENT_ID);
  assert.deepEqual(peer?.metadata, { WORKLOAD_NAME: "orders", NAMESPACE: "demo", LABELS: { app: "orders", version: "v2" } });
  assert.equal(decodeExchange(Buffer.from("not an Any")), undefined);
});

test("over mesh mTLS both proxies' TCP metrics name the other side's workload; the app sees only its bytes", { timeout: 60_000 }, async () => {
  await withTempDir(async (dir) => {
    const [orders, db] = await svids(dir, "orders", "db");
    const app = net.createServer((s) => s.pipe(s));
    await new Promise<void>((r) => app.listen(0, "127.0.0.1", r));
    const appPort = (app.address() as net.AddressInfo).port;
    const inbound = "inbound|5432||";
    const server = await startProxy(
      SERVER_ID,
      { WORKLOAD_NAME: "db", NAMESPACE: "demo", SERVICE_ACCOUNT: "db", LABELS: { app: "db", version: "v1" } },
      [listener({ transport_socket: meshDownstreamSocket(false), filters: [tcpMetadataExchange(), { name: STATS_FILTER, typed_config: statsConfig([], "SERVER", false, true) }, tcpProxy(inbound)] })],
      [staticCluster(inbound, [appPort])],
      db,
    );
    const outbound = "outbound|5432||db.demo.svc.cluster.local";
    const client = await startProxy(
      CLIENT_ID,
      { WORKLOAD_NAME: "orders", NAMESPACE: "demo", SERVICE_ACCOUNT: "orders", LABELS: { app: "orders", version: "v2" } },
      [listener({ filters: [{ name: STATS_FILTER, typed_config: statsConfig([], "CLIENT", false, true) }, tcpProxy(outbound)] })],
      [
        staticCluster(outbound, [server.listeners.boundPort("l")!], {
          transport_socket: meshUpstreamSocket({ sni: meshSni(5432, "", "db.demo.svc.cluster.local"), peerIds: [ID("db")], http2: false }),
        }),
      ],
      orders,
    );
    try {
      const payload = "SELECT 1; -- the app's own bytes, nothing else\n";
      assert.equal(await roundTrip(client.listeners.boundPort("l")!, payload), payload);

      const atClient = await series(client, "istio_tcp_connections_closed_total", (l) => l.reporter === "source");
      assert.equal(atClient.length, 1, JSON.stringify(atClient));
      assert.deepEqual(
        [atClient[0].labels.source_workload, atClient[0].labels.destination_workload, atClient[0].labels.destination_app, atClient[0].labels.destination_version, atClient[0].labels.destination_principal],
        ["orders", "db", "db", "v1", ID("db")],
      );
      const atServer = await series(server, "istio_tcp_connections_closed_total", (l) => l.reporter === "destination");
      assert.equal(atServer.length, 1, JSON.stringify(atServer));
      assert.deepEqual(
        [atServer[0].labels.source_workload, atServer[0].labels.source_app, atServer[0].labels.source_version, atServer[0].labels.source_principal, atServer[0].labels.destination_workload, atServer[0].labels.connection_security_policy],
        ["orders", "orders", "v2", ID("orders"), "db", "mutual_tls"],
      );
      // Bytes are the app's: the preambles are not counted as payload at either end.
      const received = await series(server, "istio_tcp_received_bytes_total", (l) => l.reporter === "destination");
      assert.ok(received[0].value >= payload.length, JSON.stringify(received));
      const opened = await series(client, "istio_tcp_connections_opened_total", (l) => l.destination_workload === "db");
      assert.equal(opened[0]?.value, 1);
    } finally {
      await client.stop();
      await server.stop();
      await new Promise<void>((r) => app.close(() => r()));
    }
  });
});

test("a plaintext TCP connection gets no preamble: the app sees only its bytes and the peer stays unknown", { timeout: 60_000 }, async () => {
  await withTempDir(async (dir) => {
    const [orders] = await svids(dir, "orders");
    const app = net.createServer((s) => s.pipe(s));
    await new Promise<void>((r) => app.listen(0, "127.0.0.1", r));
    const outbound = "outbound|5432||db.demo.svc.cluster.local";
    const client = await startProxy(
      CLIENT_ID,
      { WORKLOAD_NAME: "orders", NAMESPACE: "demo", LABELS: { app: "orders" } },
      [listener({ filters: [{ name: STATS_FILTER, typed_config: statsConfig([], "CLIENT", false, true) }, tcpProxy(outbound)] })],
      [staticCluster(outbound, [(app.address() as net.AddressInfo).port])],
      orders,
    );
    try {
      assert.equal(await roundTrip(client.listeners.boundPort("l")!, "plain bytes\n"), "plain bytes\n");
      const closed = await series(client, "istio_tcp_connections_closed_total", (l) => l.reporter === "source");
      assert.equal(closed[0]?.labels.destination_workload, "unknown");
    } finally {
      await client.stop();
      await new Promise<void>((r) => app.close(() => r()));
    }
  });
});

test("reading a preamble: the bytes after it stay in the stream; a wrong magic leaves everything; a reset is no crash", { timeout: 30_000 }, async () => {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as net.AddressInfo).port;
  const accept = () => new Promise<net.Socket>((r) => server.once("connection", r));
  const rest = async (s: net.Socket): Promise<string> => {
    let got = "";
    s.setEncoding("utf8");
    s.on("data", (c: string) => (got += c));
    // readExchange leaves the socket paused (for whoever pipes it next): resume to read on.
    s.resume();
    await new Promise<void>((r) => s.once("end", () => r()));
    return got;
  };
  try {
    // A preamble split over two writes, payload right behind it.
    const preamble = encodeExchange(CLIENT_ID, { WORKLOAD_NAME: "orders" });
    let conn = accept();
    let client = net.connect(port, "127.0.0.1");
    client.write(preamble.subarray(0, 5));
    setTimeout(() => client.end(Buffer.concat([preamble.subarray(5), Buffer.from("payload")])), 50);
    let s = await conn;
    const peer = await readExchange(s);
    assert.equal(peer?.metadata.WORKLOAD_NAME, "orders");
    assert.equal(await rest(s), "payload");

    // Not a preamble: everything read is given back.
    conn = accept();
    client = net.connect(port, "127.0.0.1");
    client.end("GET / HTTP/1.1\r\n\r\n");
    s = await conn;
    assert.equal(await readExchange(s), undefined);
    assert.equal(await rest(s), "GET / HTTP/1.1\r\n\r\n");

    // The peer resets half-way: undefined, and no unhandled error.
    conn = accept();
    client = net.connect(port, "127.0.0.1");
    client.write(preamble.subarray(0, 6));
    s = await conn;
    const pending = readExchange(s);
    setTimeout(() => client.resetAndDestroy(), 50);
    assert.equal(await pending, undefined);
  } finally {
    server.close();
  }
});
