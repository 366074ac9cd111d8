// The agent's certificate manager: first certificate over the real CA service, rotation
// at half life driven by an injected clock, and refusal of answers it cannot trust.
import { test } from "node:test";
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { CaClient, MeshCa, RuntimeTokenIssuer, RuntimeTokenVerifier, generateP256, startCaServer, x509 } from "../../src/ca/index.ts";
import { CertManager, type CertClock, type CertificateSigner } from "../../src/agent/cert-manager.ts";
import { describe, type Svid } from "../../src/agent/cert-svid.ts";
import { withTempDir } from "../ca/helpers.ts";

/** A clock whose timers fire only when the test advances time. */
class FakeClock implements CertClock {
  #now: number;
  #timers: { at: number; fn: () => void; id: number }[] = [];
  #nextId = 0;
  constructor(start: number) {
    this.#now = start;
  }
  now(): number {
    return this.#now;
  }
  setTimer(fn: () => void, ms: number): unknown {
    const id = ++this.#nextId;
    this.#timers.push({ at: this.#now + ms, fn, id });
    return id;
  }
  clearTimer(handle: unknown): void {
    this.#timers = this.#timers.filter((t) => t.id !== handle);
  }
  pending(): number[] {
    return this.#timers.map((t) => t.at - this.#now);
  }
  /** Moves time forward, firing due timers in order (bounded, to catch runaway loops). */
  advance(ms: number): void {
    const end = this.#now + ms;
    for (let i = 0; i < 1000; i++) {
      const due = this.#timers.filter((t) => t.at <= end).sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      this.#timers = this.#timers.filter((t) => t !== due);
      this.#now = due.at;
      due.fn();
    }
    this.#now = end;
  }
}

/** The CA in-process, behind the same interface CaClient offers, on the test's clock. */
function inProcessSigner(ca: MeshCa, verifier: RuntimeTokenVerifier): CertificateSigner & { calls: number } {
  return {
    calls: 0,
    async createCertificate(csrPem, ttlSeconds, token) {
      this.calls++;
      return (await ca.sign(csrPem, { identity: await verifier.verify(token), ttlSeconds })).certChainPem;
    },
  };
}

const waitFor = async (check: () => boolean, what: string): Promise<void> => {
  for (let i = 0; i < 500 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(check(), `timed out waiting for ${what}`);
};

const HOUR = 3600_000;

test("an agent gets its first certificate from the CA service over TLS; describe shows chain, serial, validity, SPIFFE ID", async () => {
  await withTempDir(async (dir) => {
    const ca = await MeshCa.selfSigned(dir);
    const runtime = RuntimeTokenIssuer.generate();
    const server = await startCaServer({ port: 0, ca, tokenVerifier: new RuntimeTokenVerifier({ publicKeysPem: [runtime.publicKeyPem] }), log: () => {} });
    const client = new CaClient({ address: `127.0.0.1:${server.port}`, rootsPem: ca.rootsPem() });
    const manager = new CertManager({
      signer: client,
      rootsPem: ca.rootsPem(),
      identity: { namespace: "demo", serviceAccount: "sa-logic" },
      token: () => runtime.issue({ namespace: "demo", serviceAccount: "sa-logic" }),
      log: () => {},
    });
    try {
      const svid = await manager.start();
      assert.equal(svid.spiffeId, "spiffe://cluster.local/ns/demo/sa/sa-logic");
      assert.equal(manager.current(), svid);
      const leaf = new X509Certificate(svid.certChainPem);
      assert.ok(leaf.checkPrivateKey((await import("node:crypto")).createPrivateKey(svid.keyPem)), "the key the agent made matches its certificate");
      assert.equal(svid.notAfter.getTime() - svid.notBefore.getTime(), 24 * HOUR);

      const [cert, root] = describe(svid);
      assert.equal(cert.resourceName, "default");
      assert.equal(cert.type, "Cert Chain");
      assert.equal(cert.spiffeId, "spiffe://cluster.local/ns/demo/sa/sa-logic");
      assert.equal(cert.serial, leaf.serialNumber.toLowerCase());
      assert.equal(cert.notAfter, svid.notAfter.toISOString());
      assert.equal(cert.valid, true);
      assert.equal(cert.chain.length, 1, "the root is not presented, it is the trust bundle");
      assert.equal(cert.chain[0].issuer, "O=cluster.local");
      assert.equal(root.resourceName, "ROOTCA");
      assert.equal(root.serial, new X509Certificate(ca.rootsPem()).serialNumber.toLowerCase());
      assert.equal(describe(svid, new Date(svid.notAfter.getTime() + 1000))[0].valid, false);
    } finally {
      manager.stop();
      client.close();
      await server.stop();
    }
  });
});

test("the certificate rotates at half life with a new key, and listeners get each new SVID", async () => {
  await withTempDir(async (dir) => {
    const clock = new FakeClock(Date.UTC(2026, 2, 1, 12));
    const ca = await MeshCa.selfSigned(dir, { now: () => clock.now() });
    const runtime = RuntimeTokenIssuer.generate();
    const signer = inProcessSigner(ca, new RuntimeTokenVerifier({ publicKeysPem: [runtime.publicKeyPem], now: () => clock.now() }));
    const manager = new CertManager({
      signer,
      rootsPem: ca.rootsPem(),
      identity: { namespace: "demo", serviceAccount: "web" },
      token: () => runtime.issue({ namespace: "demo", serviceAccount: "web" }, { now: clock.now() }),
      clock,
      log: () => {},
    });
    const updates: Svid[] = [];
    manager.onUpdate((svid) => updates.push(svid));
    const first = await manager.start();
    assert.deepEqual(clock.pending(), [12 * HOUR], "rotation is scheduled at half of the 24 h lifetime");
    assert.equal(updates.length, 1);

    clock.advance(12 * HOUR - 1000);
    assert.equal(signer.calls, 1, "nothing happens before half life");
    clock.advance(1000);
    await waitFor(() => updates.length === 2, "the rotated certificate");
    const second = updates[1];
    assert.notEqual(second.serial, first.serial);
    assert.notEqual(second.keyPem, first.keyPem, "each rotation uses a fresh key");
    assert.equal(second.notBefore.getTime(), first.notBefore.getTime() + 12 * HOUR);
    assert.equal(manager.current(), second);
    assert.deepEqual(clock.pending(), [12 * HOUR], "the next rotation is half of the new lifetime away");

    manager.stop();
    assert.deepEqual(clock.pending(), []);
  });
});

test("a failed rotation keeps the current certificate and retries with growing delays", async () => {
  await withTempDir(async (dir) => {
    const clock = new FakeClock(Date.UTC(2026, 2, 1));
    const ca = await MeshCa.selfSigned(dir, { now: () => clock.now() });
    const runtime = RuntimeTokenIssuer.generate();
    const real = inProcessSigner(ca, new RuntimeTokenVerifier({ publicKeysPem: [runtime.publicKeyPem], now: () => clock.now() }));
    let down = false;
    const warnings: string[] = [];
    const manager = new CertManager({
      signer: { createCertificate: (csr, ttl, token) => (down ? Promise.reject(new Error("CA UNAVAILABLE")) : real.createCertificate(csr, ttl, token)) },
      rootsPem: ca.rootsPem(),
      identity: { namespace: "demo", serviceAccount: "web" },
      token: () => runtime.issue({ namespace: "demo", serviceAccount: "web" }, { now: clock.now() }),
      ttlSeconds: 3600,
      clock,
      retryMs: 1000,
      log: (level, m) => level === "warn" && warnings.push(m),
    });
    const first = await manager.start();
    down = true;
    clock.advance(30 * 60_000);
    await waitFor(() => warnings.length === 1, "the first failure");
    assert.match(warnings[0], /keeping the current certificate, retrying in 1000 ms/);
    assert.equal(manager.current(), first);
    clock.advance(1000);
    await waitFor(() => warnings.length === 2, "the second failure");
    assert.match(warnings[1], /retrying in 2000 ms/);
    down = false;
    clock.advance(2000);
    await waitFor(() => manager.current() !== first, "recovery");
    manager.stop();
  });
});

test("an answer for another key, another identity or from another root is refused", async () => {
  await withTempDir(async (dir) => {
    await withTempDir(async (otherDir) => {
      const ca = await MeshCa.selfSigned(dir);
      const otherCa = await MeshCa.selfSigned(otherDir);
      const runtime = RuntimeTokenIssuer.generate();
      const verifier = new RuntimeTokenVerifier({ publicKeysPem: [runtime.publicKeyPem] });
      const base = {
        rootsPem: ca.rootsPem(),
        identity: { namespace: "demo", serviceAccount: "web" },
        token: () => runtime.issue({ namespace: "demo", serviceAccount: "web" }),
        log: () => {},
      };
      const { makeCsr } = await import("../ca/helpers.ts");
      const someoneElsesKey: CertificateSigner = {
        createCertificate: async (_csr, ttl, token) => (await ca.sign((await makeCsr()).csrPem, { identity: await verifier.verify(token), ttlSeconds: ttl })).certChainPem,
      };
      await assert.rejects(new CertManager({ ...base, signer: someoneElsesKey }).start(), /certificate for another key/);

      // A CA that ignores what the workload asked for: it certifies the right key for another identity.
      const rogueKeys = await generateP256();
      const rogueRoot = await x509.X509CertificateGenerator.createSelfSigned({ name: "O=rogue", keys: rogueKeys, extensions: [new x509.BasicConstraintsExtension(true, undefined, true)] });
      const wrongIdentity: CertificateSigner = {
        createCertificate: async (csr) => {
          const leaf = await x509.X509CertificateGenerator.create({
            issuer: rogueRoot.subjectName,
            subject: "",
            publicKey: new x509.Pkcs10CertificateRequest(csr).publicKey,
            signingKey: rogueKeys.privateKey,
            extensions: [new x509.SubjectAlternativeNameExtension([{ type: "url", value: "spiffe://cluster.local/ns/demo/sa/admin" }], true)],
          });
          return [leaf.toString("pem"), rogueRoot.toString("pem")];
        },
      };
      await assert.rejects(new CertManager({ ...base, rootsPem: rogueRoot.toString("pem"), signer: wrongIdentity }).start(), /identity spiffe:\/\/cluster.local\/ns\/demo\/sa\/admin instead of spiffe:\/\/cluster.local\/ns\/demo\/sa\/web/);

      const otherRoot: CertificateSigner = { createCertificate: async (csr, ttl, token) => (await otherCa.sign(csr, { identity: await verifier.verify(token), ttlSeconds: ttl })).certChainPem };
      await assert.rejects(new CertManager({ ...base, signer: otherRoot }).start(), /does not lead to the configured mesh root/);
    });
  });
});
