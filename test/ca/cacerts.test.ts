// A user-provided CA in Istio's cacerts layout, made with the openssl CLI the way Istio's
// docs make one (a root, and an intermediate for the mesh), so the chain is checked by
// an implementation that is not ours.
import { test } from "node:test";
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { execFileSync } from "node:child_process";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { CaError, MeshCa, RuntimeTokenIssuer, RuntimeTokenVerifier } from "../../src/ca/index.ts";
import { hasOpenssl, makeCacerts, makeCsr, withTempDir } from "./helpers.ts";

const skip = !hasOpenssl() && "openssl CLI not installed";

async function provenIdentity(namespace: string, serviceAccount: string) {
  const issuer = RuntimeTokenIssuer.generate();
  return new RuntimeTokenVerifier({ publicKeysPem: [issuer.publicKeyPem] }).verify(await issuer.issue({ namespace, serviceAccount }));
}

test("with cacerts the CA signs as the intermediate and hands out leaf, intermediate, root; openssl verifies the chain", { skip }, async () => {
  await withTempDir(async (base) => {
    const dir = await makeCacerts(base, "rsa");
    assert.match(await readFile(join(dir, "ca-key.pem"), "utf8"), /BEGIN RSA PRIVATE KEY/);
    const ca = await MeshCa.fromCacerts(dir);
    assert.equal(ca.rootsPem(), await readFile(join(dir, "root-cert.pem"), "utf8"), "the trust bundle is the user's root");
    const svid = await ca.sign((await makeCsr()).csrPem, { identity: await provenIdentity("demo", "sa-webapp") });
    assert.equal(svid.certChainPem.length, 3);
    const [leaf, intermediate, root] = svid.certChainPem.map((p) => new X509Certificate(p));
    assert.match(intermediate.subject, /CN=Intermediate CA/);
    assert.match(root.subject, /CN=Root CA/);
    assert.ok(leaf.checkIssued(intermediate) && leaf.verify(intermediate.publicKey), "the leaf is signed by the intermediate's key");
    assert.equal(leaf.subjectAltName, "URI:spiffe://cluster.local/ns/demo/sa/sa-webapp");

    await writeFile(join(base, "leaf.pem"), svid.certChainPem[0]);
    await writeFile(join(base, "untrusted.pem"), svid.certChainPem[1]);
    const out = execFileSync("openssl", ["verify", "-CAfile", join(dir, "root-cert.pem"), "-untrusted", join(base, "untrusted.pem"), join(base, "leaf.pem")], { encoding: "utf8" });
    assert.match(out, /leaf\.pem: OK/);
    // Without the intermediate the leaf does not verify: the chain is really needed.
    assert.throws(() => execFileSync("openssl", ["verify", "-CAfile", join(dir, "root-cert.pem"), join(base, "leaf.pem")], { stdio: "pipe" }));
  });
});

test("cert-chain.pem may be left out when the intermediate is signed by the root directly", { skip }, async () => {
  await withTempDir(async (base) => {
    const dir = await makeCacerts(base);
    await rm(join(dir, "cert-chain.pem"));
    const ca = await MeshCa.fromCacerts(dir);
    const svid = await ca.sign((await makeCsr()).csrPem, { identity: await provenIdentity("demo", "web") });
    assert.equal(svid.certChainPem.length, 3);
  });
});

test("a cacerts directory with a missing file, a foreign key or the wrong root is refused naming the file and the fix", { skip }, async () => {
  await withTempDir(async (base) => {
    const dir = await makeCacerts(base);
    const other = await makeCacerts(join(base, "other"));

    await rm(join(dir, "ca-key.pem"));
    await assert.rejects(MeshCa.fromCacerts(dir), (err: Error) => err instanceof CaError && err.message.includes(join(dir, "ca-key.pem")) && /missing/.test(err.message));

    await writeFile(join(dir, "ca-key.pem"), await readFile(join(other, "ca-key.pem")));
    await assert.rejects(MeshCa.fromCacerts(dir), /ca-key\.pem: the key does not belong to the certificate/);

    // A matching pair, but a root that did not sign the intermediate.
    const fresh = await makeCacerts(join(base, "fresh"));
    await writeFile(join(fresh, "root-cert.pem"), await readFile(join(other, "root-cert.pem")));
    await writeFile(join(fresh, "cert-chain.pem"), await readFile(join(fresh, "ca-cert.pem")));
    await assert.rejects(MeshCa.fromCacerts(fresh), (err: Error) => /does not chain to/.test(err.message) && /cert-chain\.pem/.test(err.message));

    // A leaf (non-CA) certificate cannot be the signing certificate.
    await withTempDir(async (d) => {
      const ca = await MeshCa.selfSigned(d);
      const { csrPem, keyPem } = await makeCsr();
      const svid = await ca.sign(csrPem, { identity: await provenIdentity("demo", "web") });
      const leafDir = join(base, "leafca");
      await mkdir(leafDir);
      await writeFile(join(leafDir, "ca-cert.pem"), svid.certChainPem[0]);
      await writeFile(join(leafDir, "ca-key.pem"), keyPem);
      await writeFile(join(leafDir, "root-cert.pem"), ca.rootsPem());
      await assert.rejects(MeshCa.fromCacerts(leafDir), /is not a CA/);
    });
  });
});
