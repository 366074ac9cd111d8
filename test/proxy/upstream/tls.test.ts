// TLS origination against real TLS servers on 127.0.0.1: HTTP/1.1 and HTTP/2 over TLS,
// server verification (trusted CA + SAN matchers), mutual TLS with client certificates
// from SDS secrets, and failures classified as connect failures (UF).
import { test, before } from "node:test";
import assert from "node:assert/strict";
import http2 from "node:http2";
import https from "node:https";
import type { AddressInfo } from "node:net";
import type tls from "node:tls";
import { generateP256, privateKeyPem, x509, type CryptoKeyPair } from "../../../src/ca/index.ts";
import { ClusterManager } from "../../../src/proxy/upstream/index.ts";
import type { EnvoyJson, TlsSecret } from "../../../src/proxy/upstream/index.ts";
import { endpoint, get, staticCluster } from "./helpers.ts";

interface Issued { certPem: string; keyPem: string }
let rootPem = "";
let otherRootPem = "";
let server: Issued;
let client: Issued;

const ECDSA = { name: "ECDSA", hash: "SHA-256" };

async function makeRoot(name: string): Promise<{ pem: string; keys: CryptoKeyPair; cert: x509.X509Certificate }> {
  const keys = (await generateP256());
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: "01", name: `CN=${name}`, notBefore: new Date(Date.now() - 60_000), notAfter: new Date(Date.now() + 3600_000),
    keys, signingAlgorithm: ECDSA,
    extensions: [new x509.BasicConstraintsExtension(true, undefined, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true)],
  });
  return { pem: cert.toString("pem"), keys, cert };
}

async function issue(root: Awaited<ReturnType<typeof makeRoot>>, serial: string, sans: Array<{ type: "dns" | "ip" | "url"; value: string }>): Promise<Issued> {
  const keys = (await generateP256());
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial, subject: `CN=leaf${serial}`, issuer: root.cert.subject,
    notBefore: new Date(Date.now() - 60_000), notAfter: new Date(Date.now() + 3600_000),
    publicKey: keys.publicKey, signingKey: root.keys.privateKey, signingAlgorithm: ECDSA,
    extensions: [
      new x509.SubjectAlternativeNameExtension(sans, false),
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
    ],
  });
  return { certPem: cert.toString("pem"), keyPem: await privateKeyPem(keys.privateKey) };
}

before(async () => {
  const root = await makeRoot("skiff test root");
  const other = await makeRoot("someone else");
  rootPem = root.pem;
  otherRootPem = other.pem;
  server = await issue(root, "02", [{ type: "url", value: "spiffe://cluster.local/ns/default/sa/reviews" }, { type: "ip", value: "127.0.0.1" }]);
  client = await issue(root, "03", [{ type: "url", value: "spiffe://cluster.local/ns/default/sa/productpage" }]);
});

const TLS = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext";

function tlsCluster(port: number, context: EnvoyJson, extra: EnvoyJson = {}): EnvoyJson {
  return staticCluster("t", [endpoint(port)], { transport_socket: { name: "envoy.transport_sockets.tls", typed_config: { "@type": TLS, ...context } }, ...extra });
}

/** An HTTPS server answering with the client's certificate URI SAN (or "anonymous") and SNI. */
async function httpsServer(opts: { requestCert?: boolean } = {}): Promise<{ port: number; close(): Promise<void> }> {
  // Accepts Istio's ALPN values as a sidecar's inbound listener does.
  const s = https.createServer({ cert: server.certPem, key: server.keyPem, ca: rootPem, ALPNProtocols: ["istio-peer-exchange", "istio", "http/1.1"], requestCert: opts.requestCert ?? false, rejectUnauthorized: opts.requestCert ?? false }, (req, res) => {
    const sock = req.socket as tls.TLSSocket;
    const peer = sock.getPeerCertificate();
    res.end(`${peer?.subjectaltname ?? "anonymous"} sni=${(sock as unknown as { servername?: string }).servername ?? ""}`);
  });
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  return { port: (s.address() as AddressInfo).port, close: () => new Promise<void>((r) => { s.closeAllConnections(); s.close(() => r()); }) };
}

test("HTTP/1.1 over TLS with SNI, a trusted CA and a SPIFFE SAN matcher", async () => {
  const s = await httpsServer();
  const cm = new ClusterManager();
  const r = cm.applyClusters([tlsCluster(s.port, {
    sni: "outbound_.9080_._.reviews.default.svc.cluster.local",
    common_tls_context: { validation_context: { trusted_ca: { inline_string: rootPem }, match_typed_subject_alt_names: [{ san_type: "URI", matcher: { exact: "spiffe://cluster.local/ns/default/sa/reviews" } }] } },
  })]);
  assert.deepEqual(r.errors, []);
  try {
    const { result, body } = await get(cm.get("t")!);
    assert.equal(result.kind, "response");
    assert.equal(body, "anonymous sni=outbound_.9080_._.reviews.default.svc.cluster.local");
    await get(cm.get("t")!);
    assert.equal(cm.get("t")!.stats.upstream_cx_total, 1, "TLS connections are kept alive and reused");
  } finally {
    await cm.close();
    await s.close();
  }
});

test("a wrong SAN or an untrusted server certificate is a connect failure (UF)", async () => {
  const s = await httpsServer();
  const cm = new ClusterManager();
  cm.applyClusters([
    { ...tlsCluster(s.port, { common_tls_context: { validation_context: { trusted_ca: { inline_string: rootPem }, match_typed_subject_alt_names: [{ san_type: "URI", matcher: { exact: "spiffe://cluster.local/ns/default/sa/ratings" } }] } } }), name: "wrong-san" },
    { ...tlsCluster(s.port, { common_tls_context: { validation_context: { trusted_ca: { inline_string: otherRootPem } } } }), name: "untrusted" },
  ]);
  try {
    for (const name of ["wrong-san", "untrusted"]) {
      const { result } = await get(cm.get(name)!);
      assert.equal(result.kind === "failure" && result.failure, "connect", name);
      assert.equal(result.kind === "failure" && result.responseFlag, "UF", name);
      assert.equal(cm.get(name)!.stats.upstream_cx_connect_fail, 1, name);
    }
  } finally {
    await cm.close();
    await s.close();
  }
});

test("mutual TLS with the client certificate and CA from SDS secrets; a missing secret fails the connection", async () => {
  const s = await httpsServer({ requestCert: true });
  const secrets = new Map<string, TlsSecret>();
  const cm = new ClusterManager({ secrets: (name) => secrets.get(name) });
  cm.applyClusters([tlsCluster(s.port, {
    common_tls_context: {
      tls_certificate_sds_secret_configs: [{ name: "default", sds_config: { ads: {} } }],
      combined_validation_context: {
        default_validation_context: { match_typed_subject_alt_names: [{ san_type: "URI", matcher: { prefix: "spiffe://cluster.local/" } }] },
        validation_context_sds_secret_config: { name: "ROOTCA", sds_config: { ads: {} } },
      },
      alpn_protocols: ["istio-peer-exchange", "istio"],
    },
  })]);
  try {
    const missing = await get(cm.get("t")!);
    assert.equal(missing.result.kind === "failure" && missing.result.failure, "connect");
    assert.match(missing.result.kind === "failure" ? missing.result.detail : "", /SDS secret "default" is not available/);
    secrets.set("default", { certificateChain: client.certPem, privateKey: client.keyPem });
    secrets.set("ROOTCA", { trustedCa: rootPem });
    const { result, body } = await get(cm.get("t")!);
    assert.equal(result.kind, "response", JSON.stringify(result.kind === "failure" ? result.detail : result.kind));
    assert.match(body ?? "", /^URI:spiffe:\/\/cluster\.local\/ns\/default\/sa\/productpage/);
  } finally {
    await cm.close();
    await s.close();
  }
});

test("HTTP/2 over TLS negotiates h2 by ALPN and multiplexes on one connection", async () => {
  const s = http2.createSecureServer({ cert: server.certPem, key: server.keyPem });
  let sessions = 0;
  s.on("session", () => sessions++);
  s.on("stream", (stream) => {
    stream.respond({ ":status": 200 });
    stream.end("h2 over tls");
  });
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const cm = new ClusterManager();
  cm.applyClusters([tlsCluster((s.address() as AddressInfo).port, { common_tls_context: { validation_context: { trusted_ca: { inline_string: rootPem } } } }, { http2_protocol_options: {} })]);
  try {
    const results = await Promise.all([1, 2, 3].map(() => get(cm.get("t")!)));
    for (const r of results) {
      assert.equal(r.body, "h2 over tls");
      assert.equal(r.result.kind === "response" && r.result.protocol, "h2");
    }
    assert.equal(sessions, 1);
  } finally {
    await cm.close();
    await new Promise<void>((r) => s.close(() => r()));
  }
});
