// The CA service end to end: a real gRPC server over TLS on 127.0.0.1, real clients.
import { test, after, before } from "node:test";
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { once } from "node:events";
import * as tls from "node:tls";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CaClient, MeshCa, RuntimeTokenIssuer, RuntimeTokenVerifier, startCaServer, type RunningCaServer } from "../../src/ca/index.ts";
import { makeCsr } from "./helpers.ts";

let dir: string;
let ca: MeshCa;
let server: RunningCaServer;
const runtime = RuntimeTokenIssuer.generate();
const logs: string[] = [];

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "skiff-ca-server-"));
  ca = await MeshCa.selfSigned(dir);
  server = await startCaServer({ port: 0, ca, tokenVerifier: new RuntimeTokenVerifier({ publicKeysPem: [runtime.publicKeyPem] }), log: (level, m) => logs.push(`${level} ${m}`) });
});

after(async () => {
  await server.stop();
  await rm(dir, { recursive: true, force: true });
});

function client(opts: { rootsPem?: string; serverName?: string } = {}): CaClient {
  return new CaClient({ address: `127.0.0.1:${server.port}`, rootsPem: opts.rootsPem ?? ca.rootsPem(), serverName: opts.serverName, timeoutMs: 5000 });
}

test("CreateCertificate over TLS returns the workload's chain for its token's identity and TTL", async () => {
  const c = client();
  try {
    const { csrPem } = await makeCsr();
    const chain = await c.createCertificate(csrPem, 600, await runtime.issue({ namespace: "demo", serviceAccount: "sa-webapp" }));
    assert.equal(chain.length, 2);
    const leaf = new X509Certificate(chain[0]);
    assert.equal(leaf.subjectAltName, "URI:spiffe://cluster.local/ns/demo/sa/sa-webapp");
    assert.equal((new Date(leaf.validTo).getTime() - new Date(leaf.validFrom).getTime()) / 1000, 600);
    assert.equal(chain[1], ca.rootsPem());
    assert.ok(logs.some((l) => l.startsWith("info signed spiffe://cluster.local/ns/demo/sa/sa-webapp")));
  } finally {
    c.close();
  }
});

test("the serving certificate answers to istiod.istio-system.svc as well as 127.0.0.1", async () => {
  const c = client({ serverName: "istiod.istio-system.svc" });
  try {
    const chain = await c.createCertificate((await makeCsr()).csrPem, 0, await runtime.issue({ namespace: "demo", serviceAccount: "web" }));
    const leaf = new X509Certificate(chain[0]);
    assert.equal((new Date(leaf.validTo).getTime() - new Date(leaf.validFrom).getTime()) / 1000, 24 * 3600, "0 asks for the default lifetime");
  } finally {
    c.close();
  }
});

test("a forged token is UNAUTHENTICATED, a CSR for someone else PERMISSION_DENIED, a bad CSR INVALID_ARGUMENT", async () => {
  const c = client();
  try {
    const forged = await RuntimeTokenIssuer.generate().issue({ namespace: "demo", serviceAccount: "sa-webapp" });
    await assert.rejects(c.createCertificate((await makeCsr()).csrPem, 600, forged), /UNAUTHENTICATED: service-account token refused: its signature does not match/);
    await assert.rejects(c.createCertificate((await makeCsr()).csrPem, 600, ""), /UNAUTHENTICATED/);
    const token = await runtime.issue({ namespace: "demo", serviceAccount: "sa-logic" });
    const stolen = await makeCsr(["spiffe://cluster.local/ns/demo/sa/sa-feedback"]);
    await assert.rejects(c.createCertificate(stolen.csrPem, 600, token), /PERMISSION_DENIED: CSR asks for "spiffe:\/\/cluster.local\/ns\/demo\/sa\/sa-feedback"/);
    await assert.rejects(c.createCertificate("garbage", 600, token), /INVALID_ARGUMENT: CSR: not a PEM certificate request/);
    assert.ok(logs.some((l) => l.startsWith("warn refused CreateCertificate")));
  } finally {
    c.close();
  }
});

test("a client that trusts another root refuses the server (the control plane is verified)", async () => {
  const otherDir = await mkdtemp(join(tmpdir(), "skiff-ca-other-"));
  const c = client({ rootsPem: (await MeshCa.selfSigned(otherDir)).rootsPem() });
  try {
    await assert.rejects(c.createCertificate((await makeCsr()).csrPem, 600, await runtime.issue({ namespace: "demo", serviceAccount: "web" })), /UNAVAILABLE.*(certificate|self.signed|verify)/i);
  } finally {
    c.close();
    await rm(otherDir, { recursive: true, force: true });
  }
});

/** The serial of the certificate the server presents to a new TLS connection. */
async function servedSerial(): Promise<string> {
  const socket = tls.connect({ host: "127.0.0.1", port: server.port, ca: ca.rootsPem(), ALPNProtocols: ["h2"], servername: "localhost" });
  try {
    await once(socket, "secureConnect");
    return socket.getPeerCertificate().serialNumber.toLowerCase();
  } finally {
    socket.destroy();
  }
}

test("the server renews its own certificate: new connections get it, an open channel keeps working", async () => {
  const token = await runtime.issue({ namespace: "demo", serviceAccount: "web" });
  const before = await servedSerial();
  assert.equal(before, new X509Certificate(server.serving().certChainPem).serialNumber.toLowerCase());
  const open = client();
  try {
    await open.createCertificate((await makeCsr()).csrPem, 600, token);
    assert.ok(server.rotation, "a server without a fixed certificate rotates its own");
    const renewed = await server.rotation.renew();
    const after = await servedSerial();
    assert.notEqual(after, before);
    assert.equal(after, new X509Certificate(renewed.certChainPem).serialNumber.toLowerCase());
    assert.equal((await open.createCertificate((await makeCsr()).csrPem, 600, token)).length, 2, "the channel opened before the renewal still works");
    const fresh = client();
    try {
      assert.equal((await fresh.createCertificate((await makeCsr()).csrPem, 600, token)).length, 2);
    } finally {
      fresh.close();
    }
  } finally {
    open.close();
  }
});
