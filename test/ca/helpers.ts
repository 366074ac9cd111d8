// Shared by the CA tests (and the e2e tests that bring their own CA): a workload-side CSR
// made the way an agent makes one, a temporary directory per test, and a user CA in
// Istio's cacerts layout made with the openssl CLI.
import { execFileSync } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
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

function openssl(cwd: string, ...args: string[]): void {
  execFileSync("openssl", args, { cwd, stdio: "pipe" });
}

/** base/root/ and base/cluster1/ (an intermediate signed by the root) in cacerts layout; EC keys unless asked for RSA. */
export async function makeCacerts(base: string, intermediateKey: "ec" | "rsa" = "ec"): Promise<string> {
  const root = join(base, "root");
  const dir = join(base, "cluster1");
  await mkdir(root, { recursive: true });
  await mkdir(dir, { recursive: true });
  openssl(root, "req", "-x509", "-nodes", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-keyout", "root-key.pem", "-out", "root-cert.pem", "-days", "30", "-subj", "/O=Istio/CN=Root CA", "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign");
  // Istio's sample intermediate keys are PKCS#1 RSA; ours default to SEC1 EC. Both must load.
  if (intermediateKey === "rsa") openssl(dir, "genrsa", "-traditional", "-out", "ca-key.pem", "2048");
  else openssl(dir, "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "ca-key.pem");
  openssl(dir, "req", "-new", "-key", "ca-key.pem", "-out", "ca.csr", "-subj", "/O=Istio/CN=Intermediate CA/L=cluster1");
  await writeFile(join(dir, "ext.cnf"), "basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign,digitalSignature\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n");
  openssl(dir, "x509", "-req", "-in", "ca.csr", "-CA", join(root, "root-cert.pem"), "-CAkey", join(root, "root-key.pem"), "-CAcreateserial", "-days", "20", "-extfile", "ext.cnf", "-out", "ca-cert.pem");
  const rootPem = await readFile(join(root, "root-cert.pem"), "utf8");
  await writeFile(join(dir, "root-cert.pem"), rootPem);
  await writeFile(join(dir, "cert-chain.pem"), (await readFile(join(dir, "ca-cert.pem"), "utf8")) + rootPem);
  return dir;
}
