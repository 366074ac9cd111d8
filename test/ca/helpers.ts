// Shared by the CA tests: a workload-side CSR made the way an agent makes one, and a
// temporary directory per test.
import { execFileSync } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateP256, privateKeyPem, type CryptoKeyPair , x509 } from "../../src/ca/index.ts";

export async function makeCsr(sanUris: string[] = [], extraSans: { type: "dns" | "url" | "ip"; value: string }[] = []): Promise<{ csrPem: string; keys: CryptoKeyPair; keyPem: string }> {
  const keys = await generateP256();
  const names = [...sanUris.map((value) => ({ type: "url" as const, value })), ...extraSans];
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    keys,
    signingAlgorithm: { name: "ECDSA", hash: "SHA-256" },
    extensions: names.length ? [new x509.SubjectAlternativeNameExtension(names)] : [],
  });
  return { csrPem: csr.toString("pem"), keys, keyPem: await privateKeyPem(keys.privateKey) };
}

export async function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), "skiff-ca-"));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export function hasOpenssl(): boolean {
  try {
    execFileSync("openssl", ["version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}
