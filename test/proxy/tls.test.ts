// Downstream TLS in the proxy: a filter chain's DownstreamTlsContext terminated with
// certificates from the real mesh CA (SDS secrets `default` and `ROOTCA` in the proxy's
// secret store), the client's SPIFFE ID reaching RBAC, PERMISSIVE (TLS and plaintext on
// one port) and STRICT (plaintext closed), rotation of `default` without dropping an open
// connection, file-based certificates (gateways), and NACKs for what is not implemented.
import { test } from "node:test";
import assert from "node:assert/strict";
import https from "node:https";
import http from "node:http";
import { writeFile } from "node:fs/promises";
import { X509Certificate } from "node:crypto";
import { join } from "node:path";
import { MeshCa, RuntimeTokenIssuer, RuntimeTokenVerifier, peerSpiffeId } from "../../src/ca/index.ts";
import { CertManager, svidTlsOptions, type CertificateSigner, type Svid } from "../../src/agent/index.ts";
import { Proxy, parseBootstrap, Logger } from "../../src/proxy/index.ts";
import { withTempDir } from "../ca/helpers.ts";
import { startUpstream, routerFilter, staticCluster, T, type Json } from "./helpers/fixtures.ts";

const ID = (sa: string) => `spiffe://cluster.local/ns/demo/sa/${sa}`;
const DOWNSTREAM = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext";
const HTTP_RBAC = "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC";
const NET_RBAC = "type.googleapis.com/envoy.extensions.filters.network.rbac.v3.RBAC";

async function meshOf(dir: string) {
  const ca = await MeshCa.selfSigned(dir);
  const runtime = RuntimeTokenIssuer.generate();
  const verifier = new RuntimeTokenVerifier({ publicKeysPem: [runtime.publicKeyPem] });
  const signer: CertificateSigner = { createCertificate: async (csr, ttl, token) => (await ca.sign(csr, { identity: await verifier.verify(token), ttlSeconds: ttl })).certChainPem };
  const svid = (serviceAccount: string): Promise<Svid> =>
    new CertManager({ signer, rootsPem: ca.rootsPem(), identity: { namespace: "demo", serviceAccount }, token: () => runtime.issue({ namespace: "demo", serviceAccount }), log: () => {} }).start();
  return { ca, svid };
}

/** Istio's server-side mesh TLS context (what translation emits for an inbound port). */
function meshServerSocket(): Json {
  return {
    name: "envoy.transport_sockets.tls",
    typed_config: {
      "@type": DOWNSTREAM,
      common_tls_context: {
        tls_certificate_sds_secret_configs: [{ name: "default", sds_config: { ads: {} } }],
        combined_validation_context: { default_validation_context: {}, validation_context_sds_secret_config: { name: "ROOTCA", sds_config: { ads: {} } } },
        alpn_protocols: ["istio-peer-exchange", "h2", "http/1.1"],
        tls_params: { tls_minimum_protocol_version: "TLSv1_2" },
      },
      require_client_certificate: true,
    },
  };
}

function hcm(filters: Json[] = [], extra: Json = {}): Json {
  return {
    name: "envoy.filters.network.http_connection_manager",
    typed_config: {
      "@type": T.hcm,
      stat_prefix: "inbound",
      http_filters: [...filters, routerFilter],
      route_config: { name: "local", virtual_hosts: [{ name: "all", domains: ["*"], routes: [{ match: { prefix: "/" }, route: { cluster: "app" } }] }] },
      ...extra,
    },
  };
}

const onlyWebapp = {
  name: "envoy.filters.http.rbac",
  typed_config: { "@type": HTTP_RBAC, rules: { action: "ALLOW", policies: { webapp: { permissions: [{ any: true }], principals: [{ authenticated: { principal_name: { exact: ID("sa-webapp") } } }] } } } },
};

const denyAll = {
  name: "envoy.filters.network.rbac",
  typed_config: { "@type": NET_RBAC, stat_prefix: "tcp.", rules: { action: "DENY", policies: { strict: { permissions: [{ any: true }], principals: [{ any: true }] } } } },
};

function listener(chains: Json[]): Json {
  return { name: "inbound", address: { socket_address: { address: "127.0.0.1", port_value: 0 } }, listener_filters: [], filter_chains: chains };
}

async function startStaticProxy(listeners: Json[], appPort: number): Promise<Proxy> {
  const bootstrap = parseBootstrap(
    {
      node: { id: "sidecar~127.0.0.1~app.demo~demo.svc.cluster.local", cluster: "app" },
      admin: { address: { socket_address: { address: "127.0.0.1", port_value: 0 } } },
      static_resources: { listeners, clusters: [staticCluster("app", [appPort])] },
      initial_fetch_timeout_ms: 10_000,
    },
    "tls-test",
  );
  const proxy = new Proxy({ bootstrap, logger: new Logger(process.env.SKIFF_TEST_LOG ? "debug" : "off") });
  await proxy.start();
  return proxy;
}

function setMeshSecrets(proxy: Proxy, svid: Svid, version: string): void {
  proxy.secrets.set([{ name: "default", secret: { certificateChain: svid.certChainPem, privateKey: svid.keyPem } }, { name: "ROOTCA", secret: { trustedCa: svid.rootsPem } }], version);
}

interface Answer {
  status: number;
  body: string;
  serverId: string | undefined;
  serverSerial: string | undefined;
}

/** One HTTPS request presenting `svid` (or nothing), verifying the server by SPIFFE ID. */
function get(port: number, svid: Svid | undefined, roots: string, agent: https.Agent | false = false, alpn = ["istio-peer-exchange", "istio"]): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const options: https.RequestOptions & import("node:tls").ConnectionOptions = {
        host: "127.0.0.1",
        port,
        path: "/hello",
        agent,
        ...(svid ? svidTlsOptions(svid) : { ca: roots }),
        ALPNProtocols: alpn,
        checkServerIdentity: (_h, cert) => (peerSpiffeId(cert) === ID("sa-logic") ? undefined : new Error(`unexpected server ${peerSpiffeId(cert)}`)),
        timeout: 5_000,
      };
    const req = https.get(options,
      (res) => {
        const cert = (res.socket as import("node:tls").TLSSocket).getPeerCertificate();
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => (body += c));
        res.on("end", () => {
          resolve({ status: res.statusCode ?? 0, body, serverId: cert ? peerSpiffeId(cert) : undefined, serverSerial: cert?.serialNumber });
        });
      },
    );
    req.on("timeout", () => req.destroy(new Error("timed out")));
    req.on("error", reject);
  });
}

function plainGet(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: "127.0.0.1", port, path: "/hello", agent: false, timeout: 5_000 }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
    });
    req.on("timeout", () => req.destroy(new Error("timed out")));
    req.on("error", reject);
  });
}

test("TLS with SVIDs from the mesh CA: the client's SPIFFE ID is RBAC's principal; no client certificate, no handshake", async () => {
  await withTempDir(async (dir) => {
    const { ca, svid } = await meshOf(dir);
    const [logic, webapp, other] = await Promise.all([svid("sa-logic"), svid("sa-webapp"), svid("sa-other")]);
    const app = await startUpstream();
    const proxy = await startStaticProxy([listener([{ filters: [hcm([onlyWebapp])], transport_socket: meshServerSocket() }])], app.port);
    try {
      assert.notEqual(proxy.state(), "LIVE", "the TLS listener warms until its SDS secrets arrive");
      setMeshSecrets(proxy, logic, "1");
      await proxy.waitReady();
      const port = proxy.listeners.boundPort("inbound")!;
      const ok = await get(port, webapp, ca.rootsPem());
      assert.equal(ok.status, 200);
      assert.equal(ok.serverId, ID("sa-logic"), "the proxy presents the workload's SVID");
      assert.equal(JSON.parse(ok.body).url, "/hello");
      const refused = await get(port, other, ca.rootsPem());
      assert.equal(refused.status, 403, "another identity is authenticated but not allowed");
      assert.equal(refused.body, "RBAC: access denied");
      await assert.rejects(get(port, undefined, ca.rootsPem()), "without a client certificate the handshake fails");
      await assert.rejects(plainGet(port), "plaintext on a TLS-only chain is closed");
      const stats = await (await fetch(`http://127.0.0.1:${proxy.admin.port}/stats?format=json`)).text();
      assert.match(stats, /listener\.127\.0\.0\.1_0\.ssl\.handshake/);
    } finally {
      await proxy.stop();
      await app.close();
    }
  });
});

test("PERMISSIVE answers TLS and plaintext on one port; STRICT closes plaintext", async () => {
  await withTempDir(async (dir) => {
    const { ca, svid } = await meshOf(dir);
    const [logic, webapp] = await Promise.all([svid("sa-logic"), svid("sa-webapp")]);
    const app = await startUpstream();
    const tlsChain = { filter_chain_match: { transport_protocol: "tls" }, filters: [hcm()], transport_socket: meshServerSocket() };
    const permissive = await startStaticProxy([listener([tlsChain, { filter_chain_match: { transport_protocol: "raw_buffer" }, filters: [hcm()] }])], app.port);
    const strict = await startStaticProxy([listener([tlsChain, { filter_chain_match: { transport_protocol: "raw_buffer" }, filters: [denyAll, hcm()] }])], app.port);
    try {
      for (const p of [permissive, strict]) {
        setMeshSecrets(p, logic, "1");
        await p.waitReady();
      }
      const pPort = permissive.listeners.boundPort("inbound")!;
      const sPort = strict.listeners.boundPort("inbound")!;
      assert.equal((await get(pPort, webapp, ca.rootsPem())).status, 200);
      assert.equal(await plainGet(pPort), 200);
      assert.equal((await get(sPort, webapp, ca.rootsPem())).status, 200);
      const before = app.requests.length;
      // Reset, not an empty reply: what a client of Envoy sees (curl exit 56).
      await assert.rejects(plainGet(sPort), /ECONNRESET/);
      assert.equal(app.requests.length, before, "the refused plaintext request never reached the app");
    } finally {
      await permissive.stop();
      await strict.stop();
      await app.close();
    }
  });
});

test("a rotated `default` is served to new handshakes while an open connection keeps working", async () => {
  await withTempDir(async (dir) => {
    const { ca, svid } = await meshOf(dir);
    const [first, webapp] = await Promise.all([svid("sa-logic"), svid("sa-webapp")]);
    const app = await startUpstream();
    const proxy = await startStaticProxy([listener([{ filters: [hcm()], transport_socket: meshServerSocket() }])], app.port);
    const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      setMeshSecrets(proxy, first, "1");
      await proxy.waitReady();
      const port = proxy.listeners.boundPort("inbound")!;
      const a = await get(port, webapp, ca.rootsPem(), agent);
      assert.equal(a.serverSerial?.toLowerCase(), first.serial.toLowerCase());
      const second = await svid("sa-logic");
      assert.notEqual(second.serial, first.serial);
      setMeshSecrets(proxy, second, "2");
      const kept = await get(port, webapp, ca.rootsPem(), agent);
      assert.equal(kept.status, 200, "the keep-alive connection opened before the rotation still works");
      assert.equal(kept.serverSerial?.toLowerCase(), first.serial.toLowerCase(), "...and it is the same connection");
      const fresh = await get(port, webapp, ca.rootsPem());
      assert.equal(fresh.serverSerial?.toLowerCase(), second.serial.toLowerCase(), "a new connection gets the new certificate");
    } finally {
      agent.destroy();
      await proxy.stop();
      await app.close();
    }
  });
});

test("a gateway terminates TLS with certificates from files, without client certificates", async () => {
  await withTempDir(async (dir) => {
    const { ca, svid } = await meshOf(dir);
    const logic = await svid("sa-logic");
    await writeFile(join(dir, "cert.pem"), logic.certChainPem);
    await writeFile(join(dir, "key.pem"), logic.keyPem);
    const app = await startUpstream();
    const socket = {
      name: "envoy.transport_sockets.tls",
      typed_config: {
        "@type": DOWNSTREAM,
        common_tls_context: { tls_certificates: [{ certificate_chain: { filename: join(dir, "cert.pem") }, private_key: { filename: join(dir, "key.pem") } }], alpn_protocols: ["h2", "http/1.1"] },
      },
    };
    const proxy = await startStaticProxy([listener([{ filters: [hcm()], transport_socket: socket }])], app.port);
    try {
      await proxy.waitReady();
      const r = await get(proxy.listeners.boundPort("inbound")!, undefined, ca.rootsPem(), false, ["http/1.1"]);
      assert.equal(r.status, 200);
      assert.equal(r.serverId, ID("sa-logic"));
    } finally {
      await proxy.stop();
      await app.close();
    }
  });
});

test("what downstream TLS does not implement is refused, naming the field", async () => {
  const bad = (transport_socket: Json) => parseBootstrap(
    { node: { id: "sidecar~127.0.0.1~a.demo~demo.svc.cluster.local" }, admin: { address: { socket_address: { address: "127.0.0.1", port_value: 0 } } }, static_resources: { listeners: [listener([{ filters: [hcm()], transport_socket }])] } },
    "tls-test",
  );
  const start = async (ts: Json) => {
    const proxy = new Proxy({ bootstrap: bad(ts), logger: new Logger("off") });
    try {
      await proxy.start();
    } finally {
      await proxy.stop();
    }
  };
  await assert.rejects(start({ name: "envoy.transport_sockets.alts", typed_config: { "@type": "type.googleapis.com/envoy.extensions.transport_sockets.alts.v3.Alts" } }), /filter_chains\[0\]\.transport_socket\.typed_config: transport socket "envoy\.transport_sockets\.alts"/);
  await assert.rejects(
    start({ name: "envoy.transport_sockets.tls", typed_config: { "@type": DOWNSTREAM, ocsp_staple_policy: "STRICT_STAPLING", common_tls_context: {} } }),
    /transport_socket\.typed_config\.ocsp_staple_policy: field is not implemented/,
  );
  await assert.rejects(
    start({ name: "envoy.transport_sockets.tls", typed_config: { "@type": DOWNSTREAM, common_tls_context: { tls_params: { tls_minimum_protocol_version: "TLSv9" } } } }),
    /tls_minimum_protocol_version: unknown TLS version "TLSv9"/,
  );
  // A raw_buffer transport socket is plaintext, as in Envoy.
  const proxy = new Proxy({ bootstrap: bad({ name: "envoy.transport_sockets.raw_buffer", typed_config: { "@type": "type.googleapis.com/envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer" } }), logger: new Logger("off") });
  await proxy.start();
  await proxy.stop();
});

test("x-forwarded-client-cert: APPEND_FORWARD adds the client's identity on mTLS; plaintext clients cannot forge it", async () => {
  await withTempDir(async (dir) => {
    const { ca, svid } = await meshOf(dir);
    const [logic, webapp] = await Promise.all([svid("sa-logic"), svid("sa-webapp")]);
    const app = await startUpstream();
    const xfcc = { forward_client_cert_details: "APPEND_FORWARD", set_current_client_cert_details: { subject: true, uri: true, dns: true } };
    const proxy = await startStaticProxy(
      [listener([{ filter_chain_match: { transport_protocol: "tls" }, filters: [hcm([], xfcc)], transport_socket: meshServerSocket() }, { filter_chain_match: { transport_protocol: "raw_buffer" }, filters: [hcm([], xfcc)] }])],
      app.port,
    );
    try {
      setMeshSecrets(proxy, logic, "1");
      await proxy.waitReady();
      const port = proxy.listeners.boundPort("inbound")!;
      const r = await get(port, webapp, ca.rootsPem());
      const header = String((JSON.parse(r.body) as { headers: Record<string, string> }).headers["x-forwarded-client-cert"]);
      const fingerprint = new X509Certificate(webapp.certChainPem).fingerprint256.replaceAll(":", "").toLowerCase();
      assert.equal(header, `By=${ID("sa-logic")};Hash=${fingerprint};Subject="";URI=${ID("sa-webapp")}`);
      // The element is built once per connection: later requests on a kept-alive connection
      // carry the same identity, and a different client's connection its own.
      const keepAlive = new https.Agent({ keepAlive: true, maxSockets: 1 });
      try {
        const onOneConnection = [await get(port, logic, ca.rootsPem(), keepAlive), await get(port, logic, ca.rootsPem(), keepAlive)];
        const logicFingerprint = new X509Certificate(logic.certChainPem).fingerprint256.replaceAll(":", "").toLowerCase();
        for (const answer of onOneConnection) {
          const h = String((JSON.parse(answer.body) as { headers: Record<string, string> }).headers["x-forwarded-client-cert"]);
          assert.equal(h, `By=${ID("sa-logic")};Hash=${logicFingerprint};Subject="";URI=${ID("sa-logic")}`);
        }
      } finally {
        keepAlive.destroy();
      }
      await new Promise<void>((resolve, reject) => {
        const req = http.get({ host: "127.0.0.1", port, path: "/", agent: false, headers: { "x-forwarded-client-cert": "By=forged;URI=spiffe://cluster.local/ns/demo/sa/admin" } }, (res) => {
          res.resume();
          res.on("end", resolve);
        });
        req.on("error", reject);
      });
      assert.equal(app.requests.at(-1)?.headers["x-forwarded-client-cert"], undefined, "a plaintext client's header is removed");
    } finally {
      await proxy.stop();
      await app.close();
    }
  });
});

