// Proxy to proxy, as between two sidecars: a client proxy originates mesh mTLS with
// translation's own UpstreamTlsContext (SDS `default`/`ROOTCA`, the server's SPIFFE ID,
// SNI, ALPN), a TCP relay in between records the bytes on the wire, and a server proxy
// terminates with translation's DownstreamTlsContext. The wire starts with a TLS record
// (0x16) and never shows the request; a server with another identity is refused.
import { test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import type { Svid } from "../../src/agent/index.ts";
import { Proxy, parseBootstrap, Logger } from "../../src/proxy/index.ts";
import { meshDownstreamSocket, meshUpstreamSocket, meshSni } from "../../src/pilot/translate/security/identity.ts";
import { withTempDir } from "../ca/helpers.ts";
import { ID, listener, svids } from "./helpers/mesh-identity.ts";
import { request, startUpstream, routerFilter, staticCluster, T, type Json } from "./helpers/fixtures.ts";


function hcm(cluster: string): Json {
  return {
    name: "envoy.filters.network.http_connection_manager",
    typed_config: { "@type": T.hcm, stat_prefix: "p", http_filters: [routerFilter], route_config: { name: "r", virtual_hosts: [{ name: "all", domains: ["*"], routes: [{ match: { prefix: "/" }, route: { cluster, timeout: "5s" } }] }] } },
  };
}

async function startProxy(id: string, listeners: Json[], clusters: Json[], svid: Svid): Promise<Proxy> {
  const bootstrap = parseBootstrap(
    { node: { id }, admin: { address: { socket_address: { address: "127.0.0.1", port_value: 0 } } }, static_resources: { listeners, clusters } },
    "tls-proxies",
  );
  const proxy = new Proxy({ bootstrap, logger: new Logger(process.env.SKIFF_TEST_LOG ? "debug" : "off") });
  await proxy.start();
  proxy.secrets.set([{ name: "default", secret: { certificateChain: svid.certChainPem, privateKey: svid.keyPem } }, { name: "ROOTCA", secret: { trustedCa: svid.rootsPem } }], svid.serial);
  await proxy.waitReady();
  return proxy;
}

/** A TCP relay that keeps every byte it forwarded from the client side. */
async function relay(targetPort: number): Promise<{ port: number; seen: Buffer[]; close(): void }> {
  const seen: Buffer[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((down) => {
    const up = net.connect(targetPort, "127.0.0.1");
    sockets.add(down).add(up);
    let first: Buffer = Buffer.alloc(0);
    seen.push(first);
    const index = seen.length - 1;
    down.on("data", (c: Buffer) => {
      first = Buffer.concat([first, c]);
      seen[index] = first;
    });
    down.pipe(up).pipe(down);
    down.on("error", () => up.destroy());
    up.on("error", () => down.destroy());
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    port: (server.address() as net.AddressInfo).port,
    seen,
    close: () => {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

test("sidecar to sidecar: mutual TLS on the wire, the server's SPIFFE ID checked", async () => {
  await withTempDir(async (dir) => {
    const [a, b] = await svids(dir, "sa-a", "sa-b");
    const app = await startUpstream();
    const server = await startProxy("sidecar~127.0.0.1~b.demo~demo.svc.cluster.local", [listener({ transport_socket: meshDownstreamSocket(true), filters: [hcm("app")] })], [staticCluster("app", [app.port])], b);
    const wire = await relay(server.listeners.boundPort("l")!);
    const sni = meshSni(80, "", "b.demo.svc.cluster.local");
    const client = await startProxy(
      "sidecar~127.0.0.1~a.demo~demo.svc.cluster.local",
      [listener({ filters: [hcm("to-b")] })],
      [
        staticCluster("to-b", [wire.port], { transport_socket: meshUpstreamSocket({ sni, peerIds: [ID("sa-b")], http2: false }) }),
      ],
      a,
    );
    try {
      const r = await request(client.listeners.boundPort("l")!, "/very-secret-path", { host: "b" });
      assert.equal(r.status, 200, r.body);
      assert.equal(app.requests.at(-1)?.url, "/very-secret-path");
      assert.ok(wire.seen.length > 0);
      for (const bytes of wire.seen) {
        assert.equal(bytes[0], 0x16, "every connection between the proxies starts with a TLS handshake record");
        assert.ok(!bytes.includes("very-secret-path"), "the request is not readable on the wire");
      }
      assert.match(Buffer.concat(wire.seen).toString("latin1"), new RegExp(sni.replaceAll(".", "\\.")), "the SNI is Istio's outbound_ name");
    } finally {
      await client.stop();
      await server.stop();
      wire.close();
      await app.close();
    }
  });
});

test("a client expecting another SPIFFE ID refuses the server (503, nothing reaches the app)", async () => {
  await withTempDir(async (dir) => {
    const [a, b] = await svids(dir, "sa-a", "sa-b");
    const app = await startUpstream();
    const server = await startProxy("sidecar~127.0.0.1~b.demo~demo.svc.cluster.local", [listener({ transport_socket: meshDownstreamSocket(true), filters: [hcm("app")] })], [staticCluster("app", [app.port])], b);
    const client = await startProxy(
      "sidecar~127.0.0.1~a.demo~demo.svc.cluster.local",
      [listener({ filters: [hcm("to-b")] })],
      [staticCluster("to-b", [server.listeners.boundPort("l")!], { transport_socket: meshUpstreamSocket({ sni: "x", peerIds: [ID("sa-c")], http2: false }) })],
      a,
    );
    try {
      const r = await request(client.listeners.boundPort("l")!, "/", { host: "b" });
      assert.equal(r.status, 503);
      assert.equal(app.requests.length, 0);
    } finally {
      await client.stop();
      await server.stop();
      await app.close();
    }
  });
});
