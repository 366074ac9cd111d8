// upstream_bind_config.source_address: upstream connections leave from the configured
// local address. Istio's InboundPassthroughCluster under capture binds to 127.0.0.6 so
// that the capture rules let the connection through to the app instead of sending it
// back to the sidecar. Linux answers on all of 127.0.0.0/8, so real servers on
// 127.0.0.1 see where each connection came from.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import https from "node:https";
import http2 from "node:http2";
import net from "node:net";
import type { AddressInfo } from "node:net";
import { generateP256, privateKeyPem, x509 } from "../../../src/ca/index.ts";
import { ClusterManager, tcpProxy } from "../../../src/proxy/upstream/index.ts";
import type { EnvoyJson, UpstreamCluster } from "../../../src/proxy/upstream/index.ts";
import { endpoint, staticCluster } from "./helpers.ts";

const BIND = { upstream_bind_config: { source_address: { address: "127.0.0.6", port_value: 0 } } };
const UPSTREAM_TLS = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext";

let serverCert = { certPem: "", keyPem: "" };

before(async () => {
  const keys = await generateP256();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: "01", name: "CN=bind-test", notBefore: new Date(Date.now() - 60_000), notAfter: new Date(Date.now() + 3600_000),
    keys, signingAlgorithm: { name: "ECDSA", hash: "SHA-256" },
    extensions: [new x509.SubjectAlternativeNameExtension([{ type: "dns", value: "bind.test" }], false)],
  });
  serverCert = { certPem: cert.toString("pem"), keyPem: await privateKeyPem(keys.privateKey) };
});

interface Recorder {
  port: number;
  /** Remote addresses of the connections accepted, in order. */
  peers: string[];
  close(): Promise<void>;
}

/** Listen on 127.0.0.1 and record each connection's source address. */
async function listenRecording(server: net.Server, answerTcp = false): Promise<Recorder> {
  const peers: string[] = [];
  const sockets = new Set<net.Socket>();
  // 'connection' is emitted by net, http, https and http2 servers alike, with the TCP socket.
  server.on("connection", (s: net.Socket) => {
    peers.push(s.remoteAddress ?? "");
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
    if (answerTcp) s.end("hello");
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    port: (server.address() as AddressInfo).port,
    peers,
    close: () => new Promise<void>((r) => {
      for (const s of sockets) s.destroy();
      server.close(() => r());
    }),
  };
}

async function body(cluster: UpstreamCluster, originalPort?: number): Promise<string> {
  const host = cluster.selectHost(originalPort ? { originalDestination: { address: "127.0.0.1", port: originalPort } } : {});
  assert.ok(host, `a host in ${cluster.name}`);
  const result = await cluster.httpRequest(host, { method: "GET", path: "/", authority: "bind.test", headers: {} });
  assert.equal(result.kind, "response", JSON.stringify(result.kind === "failure" ? result.detail : result.kind));
  const chunks: Buffer[] = [];
  if (result.kind === "response") for await (const c of result.body) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString();
}

test("tcp_proxy through an ORIGINAL_DST cluster with a bind config connects from 127.0.0.6; without it from 127.0.0.1", async (t) => {
  const app = await listenRecording(net.createServer(), true);
  t.after(() => app.close());
  const cm = new ClusterManager();
  t.after(() => cm.close());
  const passthrough = { name: "InboundPassthroughCluster", type: "ORIGINAL_DST", lb_policy: "CLUSTER_PROVIDED", connect_timeout: "1s" };
  assert.deepEqual(cm.applyClusters([{ ...passthrough, ...BIND }, { ...passthrough, name: "unbound" }]).errors, []);

  const through = async (clusterName: string): Promise<string> => {
    const front = net.createServer((s) => tcpProxy(s, cm.get(clusterName), { originalDestination: { address: "127.0.0.1", port: app.port } }));
    await new Promise<void>((r) => front.listen(0, "127.0.0.1", r));
    try {
      return await new Promise<string>((resolve, reject) => {
        const c = net.connect((front.address() as AddressInfo).port, "127.0.0.1");
        let data = "";
        c.on("data", (d) => (data += d.toString()));
        c.on("close", () => resolve(data));
        c.on("error", reject);
      });
    } finally {
      await new Promise<void>((r) => front.close(() => r()));
    }
  };
  assert.equal(await through("InboundPassthroughCluster"), "hello");
  assert.equal(await through("unbound"), "hello");
  assert.deepEqual(app.peers, ["127.0.0.6", "127.0.0.1"]);
});

test("HTTP/1.1, upgrades, HTTP/2 and TLS upstream connections leave from the bound address", async (t) => {
  const h1server = http.createServer((req, res) => res.end(`h1 from ${req.socket.remoteAddress}`));
  h1server.on("upgrade", (_req, socket: net.Socket) => socket.end("HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: websocket\r\n\r\n"));
  const h1 = await listenRecording(h1server);
  const h2server = http2.createServer();
  h2server.on("stream", (stream) => {
    stream.respond({ ":status": 200 });
    stream.end(`h2 from ${stream.session?.socket.remoteAddress}`);
  });
  const h2 = await listenRecording(h2server);
  const tlsServer = https.createServer({ cert: serverCert.certPem, key: serverCert.keyPem }, (req, res) => res.end(`tls from ${req.socket.remoteAddress}`));
  const tlsRec = await listenRecording(tlsServer);
  t.after(() => Promise.all([h1.close(), h2.close(), tlsRec.close()]));

  const cm = new ClusterManager();
  t.after(() => cm.close());
  const h2Options = { http2_protocol_options: {} };
  const tlsSocket = { transport_socket: { name: "envoy.transport_sockets.tls", typed_config: { "@type": UPSTREAM_TLS, sni: "bind.test" } } };
  const r = cm.applyClusters([
    staticCluster("h1", [endpoint(h1.port)], BIND),
    staticCluster("h2", [endpoint(h2.port)], { ...BIND, ...h2Options }),
    staticCluster("tls", [endpoint(tlsRec.port)], { ...BIND, ...tlsSocket }),
    { name: "orig", type: "ORIGINAL_DST", lb_policy: "CLUSTER_PROVIDED", connect_timeout: "1s", ...BIND },
  ] as EnvoyJson[]);
  assert.deepEqual(r.errors, []);

  assert.equal(await body(cm.get("h1")!), "h1 from 127.0.0.6");
  assert.equal(await body(cm.get("h2")!), "h2 from 127.0.0.6");
  assert.equal(await body(cm.get("tls")!), "tls from 127.0.0.6");
  assert.equal(await body(cm.get("orig")!, h1.port), "h1 from 127.0.0.6");

  // An upgrade goes over a connection of its own, outside the pool.
  const poolConnections = h1.peers.length;
  const upgraded = await cm.get("h1")!.httpRequest(cm.get("h1")!.selectHost({})!, { method: "GET", path: "/ws", authority: "bind.test", headers: { connection: "upgrade", upgrade: "websocket" }, upgrade: true });
  assert.equal(upgraded.kind, "upgrade");
  if (upgraded.kind === "upgrade") upgraded.socket.destroy();
  assert.equal(h1.peers.length, poolConnections + 1, "the upgrade opened a connection of its own");
  assert.deepEqual(new Set(h1.peers), new Set(["127.0.0.6"]), "every HTTP/1.1 connection, the upgrade's too");
  assert.deepEqual(h2.peers, ["127.0.0.6"]);
  assert.deepEqual(tlsRec.peers, ["127.0.0.6"]);
});

test("a bind config the proxy cannot honour is refused (NACK) naming the cluster and field", () => {
  const cm = new ClusterManager();
  const bad = (bind: EnvoyJson) => cm.applyClusters([staticCluster("c", [endpoint(1)], { upstream_bind_config: bind })]).errors.map((e) => e.message);
  assert.match(bad({ source_address: { address: "localhost", port_value: 0 } }).join(), /cluster "c": upstream_bind_config\.source_address\.address: "localhost" is not an IP address/);
  assert.match(bad({}).join(), /upstream_bind_config\.source_address: a bind config needs a source_address/);
  assert.match(bad({ source_address: { address: "127.0.0.6" }, freebind: true }).join(), /upstream_bind_config\.freebind: .*not implemented/);
  assert.match(bad({ source_address: { address: "127.0.0.6" }, socket_options: [{ level: 1, name: 2, int_value: 1 }] }).join(), /upstream_bind_config\.socket_options/);
  assert.match(bad({ source_address: { address: "127.0.0.6", port_value: 70000 } }).join(), /port_value: port 70000 is not a TCP port/);
  assert.match(bad({ source_address: { address: "127.0.0.6" }, local_address_selector: {} }).join(), /upstream_bind_config\.local_address_selector: this field is not implemented/);
  assert.equal(cm.get("c"), undefined, "nothing was applied");
  assert.deepEqual(bad({ source_address: { address: "127.0.0.6", port_value: 0 }, freebind: false }), []);
});

test("a source address this machine does not have fails each connection as a connect failure (UF), as in Envoy", async (t) => {
  const app = await listenRecording(http.createServer((_req, res) => res.end("unreached")));
  t.after(() => app.close());
  const cm = new ClusterManager();
  t.after(() => cm.close());
  // 192.0.2.1 (TEST-NET-1) is never a local address; binding to it fails before any packet is sent.
  assert.deepEqual(cm.applyClusters([staticCluster("c", [endpoint(app.port)], { upstream_bind_config: { source_address: { address: "192.0.2.1", port_value: 0 } } })]).errors, []);
  const c = cm.get("c")!;
  const result = await c.httpRequest(c.selectHost({})!, { method: "GET", path: "/", authority: "bind.test", headers: {} });
  assert.equal(result.kind, "failure");
  if (result.kind === "failure") {
    assert.equal(result.failure, "connect");
    assert.equal(result.responseFlag, "UF");
    assert.match(result.detail ?? "", /EADDRNOTAVAIL/);
  }
  assert.equal(c.stats.upstream_cx_connect_fail, 1);
  assert.deepEqual(app.peers, []);
});
