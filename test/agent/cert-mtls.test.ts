// The SVIDs work for mesh mutual TLS: two node:tls endpoints on 127.0.0.1 authenticate
// each other with certificates from the mesh CA, each learns the other's SPIFFE ID from
// the certificate, and a certificate swap on the server keeps open connections alive.
import { test } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import type { AddressInfo } from "node:net";
import * as tls from "node:tls";
import { MeshCa, RuntimeTokenIssuer, RuntimeTokenVerifier, peerSpiffeId } from "../../src/ca/index.ts";
import { CertManager, type CertificateSigner } from "../../src/agent/cert-manager.ts";
import { svidTlsOptions, type Svid } from "../../src/agent/cert-svid.ts";
import { withTempDir } from "../ca/helpers.ts";

async function meshOf(dir: string) {
  const ca = await MeshCa.selfSigned(dir);
  const runtime = RuntimeTokenIssuer.generate();
  const verifier = new RuntimeTokenVerifier({ publicKeysPem: [runtime.publicKeyPem] });
  const signer: CertificateSigner = { createCertificate: async (csr, ttl, token) => (await ca.sign(csr, { identity: await verifier.verify(token), ttlSeconds: ttl })).certChainPem };
  const manager = (serviceAccount: string) =>
    new CertManager({ signer, rootsPem: ca.rootsPem(), identity: { namespace: "demo", serviceAccount }, token: () => runtime.issue({ namespace: "demo", serviceAccount }), log: () => {} });
  return { ca, manager };
}

/** An mTLS echo server that greets each client by the SPIFFE ID in its certificate. */
async function startServer(svid: Svid): Promise<{ server: tls.Server; port: number }> {
  const server = tls.createServer({ ...svidTlsOptions(svid), requestCert: true, rejectUnauthorized: true, minVersion: "TLSv1.2" }, (socket) => {
    socket.write(`hello ${peerSpiffeId(socket.getPeerCertificate()) ?? "(no identity)"}\n`);
    socket.on("data", (d) => socket.write(d));
    socket.on("error", () => {});
  });
  server.on("tlsClientError", () => {});
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return { server, port: (server.address() as AddressInfo).port };
}

/** Connects with an SVID and accepts the server only if it proves `expectedServer`. */
async function connect(port: number, svid: Svid | undefined, expectedServer: string, rootsPem: string): Promise<{ socket: tls.TLSSocket; firstLine: string }> {
  const socket = tls.connect({
    host: "127.0.0.1",
    port,
    ...(svid ? svidTlsOptions(svid) : { ca: rootsPem }),
    // Mesh peers are named by SPIFFE ID, not host name (Envoy's match_subject_alt_names).
    checkServerIdentity: (_host, cert) => {
      const id = peerSpiffeId(cert);
      return id === expectedServer ? undefined : new Error(`server identity ${id} is not ${expectedServer}`);
    },
  });
  socket.setEncoding("utf8");
  const firstLine = await new Promise<string>((resolve, reject) => {
    let buffer = "";
    socket.on("data", (chunk: string) => {
      buffer += chunk;
      if (buffer.includes("\n")) resolve(buffer.slice(0, buffer.indexOf("\n")));
    });
    socket.on("error", reject);
    socket.on("close", () => reject(new Error(`closed before a greeting (got "${buffer}")`)));
  });
  return { socket, firstLine };
}

async function echo(socket: tls.TLSSocket, text: string): Promise<string> {
  const [chunk] = (await Promise.all([once(socket, "data"), socket.write(text)]))[0] as [string];
  return chunk;
}

test("two workloads authenticate each other with their SVIDs and read the peer's SPIFFE ID", async () => {
  await withTempDir(async (dir) => {
    const { ca, manager } = await meshOf(dir);
    const logic = await manager("sa-logic").start();
    const webapp = await manager("sa-webapp").start();
    const { server, port } = await startServer(logic);
    try {
      const { socket, firstLine } = await connect(port, webapp, "spiffe://cluster.local/ns/demo/sa/sa-logic", ca.rootsPem());
      assert.equal(firstLine, "hello spiffe://cluster.local/ns/demo/sa/sa-webapp", "the server knows the client by its certificate");
      assert.equal(peerSpiffeId(socket.getPeerCertificate()), "spiffe://cluster.local/ns/demo/sa/sa-logic");
      assert.equal(socket.authorized, true);
      assert.equal(await echo(socket, "ping"), "ping");
      socket.destroy();

      await assert.rejects(connect(port, webapp, "spiffe://cluster.local/ns/demo/sa/sa-feedback", ca.rootsPem()), /server identity spiffe:\/\/cluster.local\/ns\/demo\/sa\/sa-logic is not .*sa-feedback/);
      await assert.rejects(connect(port, undefined, "spiffe://cluster.local/ns/demo/sa/sa-logic", ca.rootsPem()), "a client without a certificate is refused");
    } finally {
      server.close();
    }
  });
});

test("a certificate from another mesh's CA is refused in both directions", async () => {
  await withTempDir(async (a) => {
    await withTempDir(async (b) => {
      const mine = await meshOf(a);
      const theirs = await meshOf(b);
      const logic = await mine.manager("sa-logic").start();
      const intruder = await theirs.manager("sa-webapp").start();
      const { server, port } = await startServer(logic);
      try {
        // The intruder trusts the server (our root) but presents a certificate from its own CA.
        await assert.rejects(connect(port, { ...intruder, rootsPem: mine.ca.rootsPem() }, "spiffe://cluster.local/ns/demo/sa/sa-logic", mine.ca.rootsPem()));
        // And a client of the other mesh does not trust our server.
        await assert.rejects(connect(port, intruder, "spiffe://cluster.local/ns/demo/sa/sa-logic", theirs.ca.rootsPem()), /self.signed|unable to verify|certificate/i);
      } finally {
        server.close();
      }
    });
  });
});

test("a rotated certificate is used for new connections while an open connection keeps working", async () => {
  await withTempDir(async (dir) => {
    const { ca, manager } = await meshOf(dir);
    const serverCerts = manager("sa-logic");
    const first = await serverCerts.start();
    const webapp = await manager("sa-webapp").start();
    const { server, port } = await startServer(first);
    // What the proxy will do: swap the TLS context on every new SVID.
    serverCerts.onUpdate((svid) => server.setSecureContext({ ...svidTlsOptions(svid), minVersion: "TLSv1.2" }));
    try {
      const id = "spiffe://cluster.local/ns/demo/sa/sa-logic";
      const before = await connect(port, webapp, id, ca.rootsPem());
      assert.equal(before.socket.getPeerCertificate().serialNumber.toLowerCase(), first.serial);

      const second = await serverCerts.rotate();
      assert.notEqual(second.serial, first.serial);

      assert.equal(await echo(before.socket, "still here"), "still here", "the open connection survives the rotation");
      const after = await connect(port, webapp, id, ca.rootsPem());
      assert.equal(after.socket.getPeerCertificate().serialNumber.toLowerCase(), second.serial, "new connections get the new certificate");
      assert.equal(after.firstLine, "hello spiffe://cluster.local/ns/demo/sa/sa-webapp", "client certificates are still required after the swap");
      before.socket.destroy();
      after.socket.destroy();
    } finally {
      serverCerts.stop();
      server.close();
    }
  });
});
