// SDS in Istio's shape: the agent's SecretDiscoveryService on a Unix socket, fed by a
// CertManager that gets SVIDs from the real mesh CA; the proxy's bootstrap names it as
// the `sds-grpc` cluster, and its TLS listener (translation's sds_config form) warms
// until `default` and `ROOTCA` arrive. A rotation is pushed over the stream and applied
// to new handshakes while requests keep flowing.
import { test } from "node:test";
import assert from "node:assert/strict";
import https from "node:https";
import type { ConnectionOptions } from "node:tls";
import { join } from "node:path";
import { svidTlsOptions, type Svid } from "../../src/agent/index.ts";
import { startSdsServer } from "../../src/agent/sds-server.ts";
import { Proxy, parseBootstrap, Logger } from "../../src/proxy/index.ts";
import { meshDownstreamSocket } from "../../src/pilot/translate/security/identity.ts";
import { withTempDir } from "../ca/helpers.ts";
import { startUpstream, routerFilter, staticCluster, T } from "./helpers/fixtures.ts";
import { meshOf } from "./helpers/mesh-identity.ts";

function get(port: number, client: Svid, agent: https.Agent | false): Promise<{ status: number; serial: string }> {
  return new Promise((resolve, reject) => {
    const options: https.RequestOptions & ConnectionOptions = {
      host: "127.0.0.1",
      port,
      path: "/",
      agent,
      ...svidTlsOptions(client),
      ALPNProtocols: ["istio-peer-exchange", "istio"],
      checkServerIdentity: () => undefined,
      timeout: 5_000,
    };
    const req = https.get(options, (res) => {
      const serial = (res.socket as import("node:tls").TLSSocket).getPeerCertificate().serialNumber;
      res.resume();
      res.on("end", () => resolve({ status: res.statusCode ?? 0, serial }));
    });
    req.on("timeout", () => req.destroy(new Error("timed out")));
    req.on("error", reject);
  });
}

test("the proxy takes `default` and `ROOTCA` from the agent over SDS, and a rotation drops no request", async () => {
  await withTempDir(async (dir) => {
    const { ca, manager } = await meshOf(dir);
    const serverCerts = manager("sa-logic");
    const client = await manager("sa-webapp").start();
    const socketPath = join(dir, "sds", "socket");
    const sds = await startSdsServer({ socketPath, svids: serverCerts });
    const app = await startUpstream();
    const listener = {
      name: "inbound",
      address: { socket_address: { address: "127.0.0.1", port_value: 0 } },
      filter_chains: [
        {
          transport_socket: meshDownstreamSocket(true),
          filters: [
            {
              name: "envoy.filters.network.http_connection_manager",
              typed_config: { "@type": T.hcm, stat_prefix: "in", http_filters: [routerFilter], route_config: { name: "r", virtual_hosts: [{ name: "all", domains: ["*"], routes: [{ match: { prefix: "/" }, route: { cluster: "app" } }] }] } },
            },
          ],
        },
      ],
    };
    const bootstrap = parseBootstrap(
      {
        node: { id: "sidecar~127.0.0.1~logic.demo~demo.svc.cluster.local", cluster: "logic" },
        admin: { address: { socket_address: { address: "127.0.0.1", port_value: 0 } } },
        static_resources: {
          listeners: [listener],
          clusters: [staticCluster("app", [app.port]), { name: "sds-grpc", type: "STATIC", load_assignment: { cluster_name: "sds-grpc", endpoints: [{ lb_endpoints: [{ endpoint: { address: { pipe: { path: socketPath } } } }] }] } }],
        },
      },
      "sds-test",
    );
    const proxy = new Proxy({ bootstrap, logger: new Logger(process.env.SKIFF_TEST_LOG ? "debug" : "off") });
    const agent = new https.Agent({ keepAlive: true, maxSockets: 2 });
    try {
      await proxy.start();
      assert.notEqual(proxy.state(), "LIVE", "no certificate yet: the listener warms");
      const first = await serverCerts.start();
      await proxy.waitReady();
      const port = proxy.listeners.boundPort("inbound")!;
      assert.equal((await get(port, client, false)).serial.toLowerCase(), first.serial.toLowerCase());

      // Steady traffic (kept-alive and fresh connections) while the agent rotates.
      let stop = false;
      const results: Array<{ status: number; serial: string } | Error> = [];
      const load = (async () => {
        for (let i = 0; i < 400 && !stop; i++) {
          results.push(await get(port, client, i % 2 === 0 ? agent : false).catch((e: Error) => e));
        }
      })();
      while (results.length < 10) await new Promise((r) => setTimeout(r, 5));
      const second = await serverCerts.rotate();
      assert.notEqual(second.serial, first.serial);
      const deadline = Date.now() + 10_000;
      while (Date.now() < deadline && !results.some((r) => !(r instanceof Error) && r.serial.toLowerCase() === second.serial.toLowerCase())) await new Promise((r) => setTimeout(r, 10));
      const after = results.length;
      while (results.length < after + 10) await new Promise((r) => setTimeout(r, 5));
      stop = true;
      await load;
      const failures = results.filter((r) => r instanceof Error || r.status !== 200);
      assert.deepEqual(failures, [], "no request failed during the rotation");
      assert.ok(results.some((r) => !(r instanceof Error) && r.serial.toLowerCase() === second.serial.toLowerCase()), "new connections got the rotated certificate");
      assert.equal(proxy.secrets.entry("default")?.version, second.serial, "the secret's version is the certificate serial");
      assert.equal(proxy.secrets.get("ROOTCA")?.trustedCa, ca.rootsPem());
    } finally {
      agent.destroy();
      serverCerts.stop();
      await proxy.stop();
      await sds.close();
      await app.close();
    }
  });
});
