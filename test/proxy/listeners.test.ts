// Listeners: filter chain selection by SNI, ALPN and transport protocol (the proxy
// peeks at the TLS ClientHello or the plaintext first bytes), destination port, TCP
// proxying, capture listeners dispatching on the original destination, and NACK of a
// listener filter the proxy lacks. Configured only over xDS; real sockets on loopback.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import tls from "node:tls";
import http2 from "node:http2";
import { TestAdsServer } from "./helpers/ads-server.ts";
import { T, request, routeConfig, serve, startProxy, staticCluster, vhost, type Json, type RunningProxy } from "./helpers/fixtures.ts";

let ads: TestAdsServer;
let proxy: RunningProxy;
const backends = new Map<string, { port: number; hits: number; server: net.Server }>();

async function tcpBackend(name: string): Promise<void> {
  const b = { port: 0, hits: 0, server: net.createServer() };
  b.server.on("connection", (s) => {
    b.hits++;
    s.end(`backend:${name}`);
    s.on("error", () => s.destroy());
  });
  await new Promise<void>((r) => b.server.listen(0, "127.0.0.1", r));
  b.port = (b.server.address() as net.AddressInfo).port;
  backends.set(name, b);
}

const tcpChain = (cluster: string, match?: Json): Json => ({
  ...(match ? { filter_chain_match: match } : {}),
  filters: [{ name: "envoy.filters.network.tcp_proxy", typed_config: { "@type": T.tcpProxy, stat_prefix: cluster, cluster } }],
});
const httpChain = (body: string, match?: Json): Json => ({
  ...(match ? { filter_chain_match: match } : {}),
  filters: [
    {
      name: "envoy.filters.network.http_connection_manager",
      typed_config: {
        "@type": T.hcm,
        stat_prefix: body,
        route_config: routeConfig(body, [vhost("all", ["*"], [{ match: { prefix: "/" }, direct_response: { status: 200, body: { inline_string: body } } }])]),
        http_filters: [{ name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } }],
      },
    },
  ],
});
const listener = (name: string, chains: Json[], extra: Json = {}): Json => ({ name, address: { socket_address: { address: "127.0.0.1", port_value: 0 } }, filter_chains: chains, ...extra });
const inspectors = [
  { name: "envoy.filters.listener.tls_inspector", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector" } },
  { name: "envoy.filters.listener.http_inspector", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.listener.http_inspector.v3.HttpInspector" } },
];

let sniffing: Json;
let clusters: Json[];

before(async () => {
  ads = new TestAdsServer();
  await ads.start();
  for (const n of ["sni-a", "tls-h2", "tls-any", "raw"]) await tcpBackend(n);
  clusters = [...backends.entries()].map(([n, b]) => staticCluster(n, [b.port]));
  sniffing = listener(
    "sniff",
    [
      tcpChain("sni-a", { server_names: ["a.test"], transport_protocol: "tls" }),
      tcpChain("tls-h2", { transport_protocol: "tls", application_protocols: ["h2"] }),
      tcpChain("tls-any", { transport_protocol: "tls" }),
      httpChain("plain-http", { transport_protocol: "raw_buffer", application_protocols: ["http/1.1", "h2c"] }),
      tcpChain("raw", { transport_protocol: "raw_buffer" }),
    ],
    { listener_filters: inspectors },
  );
  proxy = await startProxy(ads);
  await serve(ads, proxy, { clusters, listeners: [sniffing, listener("virtualOutbound", [httpChain("passthrough")], { use_original_dst: true })] });
});

after(async () => {
  await proxy.stop();
  await ads.stop();
  for (const b of backends.values()) b.server.close();
});

/** Open a TLS connection (the handshake fails: the backend is not TLS) and report which backend answered. */
function tlsProbe(port: number, opts: { servername?: string; ALPNProtocols?: string[] }): Promise<string> {
  return new Promise((resolve) => {
    let got = "";
    const raw = net.connect(port, "127.0.0.1");
    raw.on("data", (d: Buffer) => (got += d.toString()));
    raw.on("close", () => resolve(got));
    raw.on("error", () => undefined);
    // Write a real ClientHello on the raw socket by running a TLS client over it.
    const t = tls.connect({ socket: raw, servername: opts.servername, ALPNProtocols: opts.ALPNProtocols, rejectUnauthorized: false });
    t.on("error", () => raw.destroy());
  });
}

function rawProbe(port: number, bytes: string): Promise<string> {
  return new Promise((resolve) => {
    let got = "";
    const s = net.connect(port, "127.0.0.1", () => s.write(bytes));
    s.on("data", (d: Buffer) => (got += d.toString()));
    s.on("close", () => resolve(got));
    s.on("error", () => undefined);
  });
}

test("TLS: SNI beats ALPN, ALPN beats the plain TLS chain", async () => {
  const port = proxy.port("sniff");
  const before = backends.get("sni-a")!.hits;
  await tlsProbe(port, { servername: "a.test", ALPNProtocols: ["h2"] });
  assert.equal(backends.get("sni-a")!.hits, before + 1);
  const h2 = backends.get("tls-h2")!.hits;
  await tlsProbe(port, { servername: "b.test", ALPNProtocols: ["h2", "http/1.1"] });
  assert.equal(backends.get("tls-h2")!.hits, h2 + 1);
  const any = backends.get("tls-any")!.hits;
  await tlsProbe(port, { servername: "b.test" });
  assert.equal(backends.get("tls-any")!.hits, any + 1);
});

test("plaintext: HTTP/1.1 and h2c go to the HTTP chain, other bytes to TCP proxy", async () => {
  const port = proxy.port("sniff");
  assert.equal((await request(port, "/")).body, "plain-http");
  const session = http2.connect(`http://127.0.0.1:${port}`);
  const body = await new Promise<string>((resolve, reject) => {
    const req = session.request({ ":path": "/" });
    let b = "";
    req.setEncoding("utf8");
    req.on("data", (c: string) => (b += c));
    req.on("end", () => resolve(b));
    req.on("error", reject);
  });
  session.close();
  assert.equal(body, "plain-http");
  assert.equal(await rawProbe(port, "\x00\x01binary protocol\r\n"), "backend:raw");
});

test("capture listener hands a connection to the listener for its original destination; destination_port chains", async () => {
  const captured = proxy.port("virtualOutbound");
  // Without iptables the original destination is the local address: the capture port itself.
  const target = listener(`127.0.0.1_${captured}`, [httpChain("by-destination")], { bind_to_port: false, address: { socket_address: { address: "127.0.0.1", port_value: captured } } });
  const inbound = listener("virtualInbound", [httpChain("port-match", { destination_port: 1 }), httpChain("inbound-default")], { listener_filters: inspectors });
  const v = ads.set("LDS", [sniffing, listener("virtualOutbound", [httpChain("passthrough")], { use_original_dst: true }), target, inbound]);
  await ads.waitForAck("LDS", v);
  await proxy.proxy.waitReady(5000);
  assert.equal((await request(captured, "/")).body, "by-destination");
  const inPort = proxy.port("virtualInbound");
  assert.equal((await request(inPort, "/")).body, "inbound-default");
  // Now match the real destination port: the more specific chain wins.
  const inbound2 = listener("virtualInbound", [httpChain("port-match", { destination_port: inPort }), httpChain("inbound-default")], { listener_filters: inspectors });
  const v2 = ads.set("LDS", [sniffing, listener("virtualOutbound", [httpChain("passthrough")], { use_original_dst: true }), target, inbound2]);
  await ads.waitForAck("LDS", v2);
  assert.equal((await request(inPort, "/")).body, "port-match");
});

test("an unknown listener filter is NACKed", async () => {
  // The codec only knows the protos Skiff loads, so dress the unknown filter in a known message type.
  const bad = listener("bad", [httpChain("x")], { listener_filters: [{ name: "envoy.filters.listener.proxy_protocol", typed_config: { "@type": T.router } }] });
  ads.set("LDS", [sniffing, bad]);
  const nack = await ads.waitForNack("LDS");
  assert.match(nack.error!, /listener bad: listener_filters\[0\]: listener filter "envoy\.filters\.listener\.proxy_protocol" .* is not implemented/);
  assert.equal((await request(proxy.port("sniff"), "/")).body, "plain-http", "the previous listeners keep serving");
});
