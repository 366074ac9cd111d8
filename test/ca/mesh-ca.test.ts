import { test } from "node:test";
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { execFileSync } from "node:child_process";
import { readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { CaError, MeshCa, RuntimeTokenIssuer, RuntimeTokenVerifier, type VerifiedIdentity , x509 } from "../../src/ca/index.ts";
import { hasOpenssl, makeCsr, withTempDir } from "./helpers.ts";

async function proven(namespace: string, serviceAccount: string): Promise<VerifiedIdentity> {
  const issuer = RuntimeTokenIssuer.generate();
  const verifier = new RuntimeTokenVerifier({ publicKeysPem: [issuer.publicKeyPem] });
  return verifier.verify(await issuer.issue({ namespace, serviceAccount }));
}

test("a new self-signed root is ECDSA P-256, O=<trust domain>, a CA for 10 years, and is kept across restarts", async () => {
  await withTempDir(async (dir) => {
    const now = Date.UTC(2026, 0, 1);
    const ca = await MeshCa.selfSigned(dir, { now: () => now });
    const root = new X509Certificate(ca.rootsPem());
    assert.equal(root.ca, true);
    assert.equal(root.subject, "O=cluster.local");
    assert.equal(root.issuer, root.subject);
    assert.equal(root.publicKey.asymmetricKeyDetails?.namedCurve, "prime256v1");
    assert.equal(new Date(root.validTo).getUTCFullYear(), 2036);
    assert.ok(root.verify(root.publicKey), "self-signed");
    assert.equal((await stat(join(dir, "ca-key.pem"))).mode & 0o777, 0o600, "the root key is private to its owner");

    const again = await MeshCa.selfSigned(dir);
    assert.equal(again.rootsPem(), ca.rootsPem(), "a restart keeps the same root");
    const other = await withTempDir((d) => MeshCa.selfSigned(d));
    assert.notEqual(other.rootsPem(), ca.rootsPem(), "another directory gets another root");
  });
});

test("the trust domain names the root and every SPIFFE ID", async () => {
  await withTempDir(async (dir) => {
    const ca = await MeshCa.selfSigned(dir, { trustDomain: "example.org" });
    assert.equal(new X509Certificate(ca.rootsPem()).subject, "O=example.org");
    const { csrPem } = await makeCsr();
    const svid = await ca.sign(csrPem, { identity: await proven("shop", "cart") });
    assert.equal(svid.spiffeId, "spiffe://example.org/ns/shop/sa/cart");
  });
});

test("a persisted root whose key does not match its certificate is refused with a fix", async () => {
  await withTempDir(async (a) => {
    await withTempDir(async (b) => {
      await MeshCa.selfSigned(a);
      await MeshCa.selfSigned(b);
      await writeFile(join(a, "ca-key.pem"), await readFile(join(b, "ca-key.pem")));
      await assert.rejects(MeshCa.selfSigned(a), (err: Error) => err instanceof CaError && /ca-key\.pem: the key does not belong to the certificate/.test(err.message) && /delete both/.test(err.message));
    });
  });
});

test("an SVID carries the CSR's key, exactly the proven SPIFFE ID, the TTL, the usages and key identifiers", async () => {
  await withTempDir(async (dir) => {
    const ca = await MeshCa.selfSigned(dir);
    const { csrPem, keys } = await makeCsr();
    const svid = await ca.sign(csrPem, { identity: await proven("demo", "sa-logic"), ttlSeconds: 3600 });
    const [leafPem, rootPem] = svid.certChainPem;
    assert.equal(svid.certChainPem.length, 2, "leaf and root");
    assert.equal(rootPem, ca.rootsPem());
    const leaf = new X509Certificate(leafPem);
    assert.equal(leaf.subjectAltName, "URI:spiffe://cluster.local/ns/demo/sa/sa-logic");
    assert.equal(leaf.ca, false);
    assert.equal((new Date(leaf.validTo).getTime() - new Date(leaf.validFrom).getTime()) / 1000, 3600);
    assert.ok(leaf.verify(new X509Certificate(rootPem).publicKey));
    assert.ok(leaf.checkIssued(new X509Certificate(rootPem)));

    const spki = Buffer.from(await (await import("../../src/ca/index.ts")).subtle.exportKey("spki", keys.publicKey));
    assert.ok(leaf.publicKey.export({ type: "spki", format: "der" }).equals(spki), "the certificate certifies the workload's own key");

    const parsed = new x509.X509Certificate(leafPem);
    const ku = parsed.getExtension(x509.KeyUsagesExtension);
    assert.equal(ku?.usages, x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment);
    assert.equal(ku?.critical, true);
    assert.deepEqual([...(parsed.getExtension(x509.ExtendedKeyUsageExtension)?.usages ?? [])].sort(), [x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth].sort());
    assert.equal(parsed.getExtension(x509.SubjectAlternativeNameExtension)?.critical, true, "SAN is critical: the subject is empty");
    const rootSki = new x509.X509Certificate(rootPem).getExtension(x509.SubjectKeyIdentifierExtension)?.keyId;
    assert.ok(rootSki);
    assert.equal(parsed.getExtension(x509.AuthorityKeyIdentifierExtension)?.keyId, rootSki);
    assert.ok(parsed.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId);
    assert.equal(svid.serial, leaf.serialNumber.toLowerCase());
  });
});

test("the default lifetime is 24 h, serials differ, and a TTL above the maximum is refused", async () => {
  await withTempDir(async (dir) => {
    const identity = await proven("demo", "web");
    const ca = await MeshCa.selfSigned(dir);
    const a = await ca.sign((await makeCsr()).csrPem, { identity });
    const b = await ca.sign((await makeCsr()).csrPem, { identity });
    assert.equal(a.notAfter.getTime() - a.notBefore.getTime(), 24 * 3600 * 1000);
    assert.notEqual(a.serial, b.serial);
    const strict = await MeshCa.selfSigned(dir, { maxTtlSeconds: 7200 });
    assert.equal((await strict.sign((await makeCsr()).csrPem, { identity, ttlSeconds: 7200 })).notAfter.getTime() - Date.now() <= 7200 * 1000, true);
    await assert.rejects(strict.sign((await makeCsr()).csrPem, { identity, ttlSeconds: 7201 }), (err: Error) => err instanceof CaError && err.kind === "invalid-argument" && /exceeds the CA's maximum/.test(err.message));
  });
});

test("a CSR asking for another identity, or extra names, is refused; the same identity is accepted", async () => {
  await withTempDir(async (dir) => {
    const ca = await MeshCa.selfSigned(dir);
    const identity = await proven("demo", "sa-logic");
    const mine = await makeCsr(["spiffe://cluster.local/ns/demo/sa/sa-logic"]);
    assert.equal((await ca.sign(mine.csrPem, { identity })).spiffeId, "spiffe://cluster.local/ns/demo/sa/sa-logic");

    const theirs = await makeCsr(["spiffe://cluster.local/ns/demo/sa/sa-feedback"]);
    await assert.rejects(ca.sign(theirs.csrPem, { identity }), (err: Error) => err instanceof CaError && err.kind === "permission-denied" && /sa-feedback/.test(err.message) && /proves "spiffe:\/\/cluster.local\/ns\/demo\/sa\/sa-logic"/.test(err.message));

    const otherDomain = await makeCsr(["spiffe://evil.example/ns/demo/sa/sa-logic"]);
    await assert.rejects(ca.sign(otherDomain.csrPem, { identity }), /evil\.example/);

    const extraDns = await makeCsr(["spiffe://cluster.local/ns/demo/sa/sa-logic"], [{ type: "dns", value: "bank.example" }]);
    await assert.rejects(ca.sign(extraDns.csrPem, { identity }), /dns:bank\.example/);
  });
});

test("a malformed CSR, or one whose signature does not match its key, is refused", async () => {
  await withTempDir(async (dir) => {
    const ca = await MeshCa.selfSigned(dir);
    const identity = await proven("demo", "web");
    await assert.rejects(ca.sign("hello", { identity }), (err: Error) => err instanceof CaError && err.kind === "invalid-argument" && /not a PEM certificate request/.test(err.message));
    const { csrPem } = await makeCsr();
    const der = Buffer.from(csrPem.replace(/-----[^-]+-----/g, "").replace(/\s+/g, ""), "base64");
    der[der.length - 5] ^= 0xff; // inside the signature value
    const tampered = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString("base64")}\n-----END CERTIFICATE REQUEST-----\n`;
    await assert.rejects(ca.sign(tampered, { identity }), (err: Error) => err instanceof CaError && err.kind === "invalid-argument");
  });
});

test("openssl verifies a workload certificate against the self-signed root", { skip: !hasOpenssl() && "openssl CLI not installed" }, async () => {
  await withTempDir(async (dir) => {
    const ca = await MeshCa.selfSigned(dir);
    const svid = await ca.sign((await makeCsr()).csrPem, { identity: await proven("demo", "web") });
    await writeFile(join(dir, "leaf.pem"), svid.certChainPem[0]);
    const out = execFileSync("openssl", ["verify", "-purpose", "sslclient", "-CAfile", join(dir, "ca-cert.pem"), join(dir, "leaf.pem")], { encoding: "utf8" });
    assert.match(out, /leaf\.pem: OK/);
    const out2 = execFileSync("openssl", ["verify", "-purpose", "sslserver", "-CAfile", join(dir, "ca-cert.pem"), join(dir, "leaf.pem")], { encoding: "utf8" });
    assert.match(out2, /leaf\.pem: OK/);
  });
});

test("a workload certificate never outlives the CA certificate that signs it", async () => {
  await withTempDir(async (dir) => {
    const born = Date.UTC(2020, 0, 1);
    await MeshCa.selfSigned(dir, { now: () => born });
    const rootEnd = new Date(new X509Certificate(await readFile(join(dir, "ca-cert.pem"))).validTo).getTime();
    const late = await MeshCa.selfSigned(dir, { now: () => rootEnd - 3600_000 });
    const svid = await late.sign((await makeCsr()).csrPem, { identity: await proven("demo", "web") });
    assert.equal(svid.notAfter.getTime(), rootEnd, "capped at the root's expiry instead of 24 h later");
    await assert.rejects(MeshCa.selfSigned(dir, { now: () => rootEnd + 1000 }), /expired on .*replace it/);
  });
});
