// Where the CA's signing key and certificates come from: a self-signed root that Skiff
// makes once and keeps in a directory (so a restart keeps the mesh's identity), or a
// CA the user plugs in with Istio's `cacerts` files. Either way the result is the same
// CaMaterial: the certificate and key that sign, the intermediates up to the root, and
// the trust anchors workloads verify against.
import { X509Certificate, randomBytes } from "node:crypto";
import { chmod, mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { x509 } from "./x509.ts";
import { CaError } from "./errors.ts";
import { ECDSA_SHA256, generateP256, importSigningKey, privateKeyPem, publicKeyDerOfPrivatePem, type SigningKey } from "./keys.ts";
import { parseCertificates, pemOf, sameCertificate } from "./pem.ts";

export interface CaMaterial {
  /** The certificate whose key signs workload certificates (the root itself, or an intermediate). */
  signingCert: X509Certificate;
  key: SigningKey;
  /**
   * PEM certificates a workload presents after its own: the signing certificate when it
   * is not itself a root, then any intermediates above it up to (not including) the root.
   */
  intermediatesPem: string[];
  /** Trust anchors (PEM), what workloads verify peers against. */
  rootsPem: string[];
  /** For logs and docs: where this CA came from. */
  source: string;
}

/** Istio's file names for a self-signed CA (its `istio-ca-secret`) and for plugged-in CAs. */
export const SELF_SIGNED_FILES = { cert: "ca-cert.pem", key: "ca-key.pem" } as const;
export const CACERTS_FILES = { cert: "ca-cert.pem", key: "ca-key.pem", root: "root-cert.pem", chain: "cert-chain.pem" } as const;

/** A positive random serial of 128 bits (RFC 5280 allows up to 20 octets). */
export function randomSerialHex(): string {
  const bytes = randomBytes(16);
  // Clear the sign bit (serials are positive) and avoid a leading zero octet, which DER
  // would strip and change the length.
  bytes[0] = (bytes[0] & 0x7f) | 0x01;
  return bytes.toString("hex");
}

async function readOptional(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}

function keyMatchesCertificate(keyPem: string, cert: X509Certificate): boolean {
  const certKey = cert.publicKey.export({ type: "spki", format: "der" });
  return publicKeyDerOfPrivatePem(keyPem).equals(certKey);
}

function checkUsableCa(cert: X509Certificate, where: string, now: Date): void {
  if (!cert.ca) throw new CaError("config", `${where}: certificate "${cert.subject}" is not a CA (basicConstraints CA:TRUE is missing); give a CA certificate`);
  if (new Date(cert.validTo) <= now) throw new CaError("config", `${where}: CA certificate "${cert.subject}" expired on ${cert.validTo}; replace it`);
  if (new Date(cert.validFrom) > now) throw new CaError("config", `${where}: CA certificate "${cert.subject}" is not valid before ${cert.validFrom}; check the clock or the certificate`);
}

export interface SelfSignedOptions {
  trustDomain: string;
  now: Date;
  /** Validity of a new root; Istio's self-signed root lives 10 years. */
  validityYears?: number;
}

/**
 * Loads the self-signed root kept in `dir`, or makes one (ECDSA P-256, O=<trust domain>)
 * and writes it there. The key file is written 0600 and renamed into place, so a crash
 * never leaves half a key.
 */
export async function loadOrCreateSelfSignedRoot(dir: string, opts: SelfSignedOptions): Promise<CaMaterial> {
  const certPath = join(dir, SELF_SIGNED_FILES.cert);
  const keyPath = join(dir, SELF_SIGNED_FILES.key);
  const [certPem, keyPem] = await Promise.all([readOptional(certPath), readOptional(keyPath)]);
  if (certPem !== undefined && keyPem !== undefined) {
    const [cert] = parseCertificates(certPem, certPath);
    if (!keyMatchesCertificate(keyPem, cert)) {
      throw new CaError("config", `${keyPath}: the key does not belong to the certificate in ${certPath}; restore the pair, or delete both to make a new root (every workload certificate must then be re-issued)`);
    }
    checkUsableCa(cert, certPath, opts.now);
    return { signingCert: cert, key: await importSigningKey(keyPem, keyPath), intermediatesPem: [], rootsPem: [pemOf(cert)], source: `self-signed root in ${dir}` };
  }
  if (certPem !== undefined || keyPem !== undefined) {
    const missing = certPem === undefined ? certPath : keyPath;
    throw new CaError("config", `${missing}: missing while its pair is present; restore it, or delete both ${SELF_SIGNED_FILES.cert} and ${SELF_SIGNED_FILES.key} to make a new root`);
  }

  const keys = await generateP256();
  const notBefore = new Date(Math.floor(opts.now.getTime() / 1000) * 1000);
  const notAfter = new Date(notBefore);
  notAfter.setUTCFullYear(notAfter.getUTCFullYear() + (opts.validityYears ?? 10));
  const root = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerialHex(),
    name: `O=${opts.trustDomain}`,
    notBefore,
    notAfter,
    keys,
    signingAlgorithm: ECDSA_SHA256,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  const newCertPem = root.toString("pem") + "\n";
  const newKeyPem = await privateKeyPem(keys.privateKey);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await writeAtomically(keyPath, newKeyPem, 0o600);
  await writeAtomically(certPath, newCertPem, 0o644);
  const cert = new X509Certificate(newCertPem);
  return { signingCert: cert, key: await importSigningKey(newKeyPem, keyPath), intermediatesPem: [], rootsPem: [pemOf(cert)], source: `self-signed root created in ${dir}` };
}

async function writeAtomically(path: string, text: string, mode: number): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, text, { mode });
  await chmod(tmp, mode);
  await rename(tmp, path);
}

/**
 * Loads a user's CA from Istio's `cacerts` layout: ca-cert.pem (the certificate that
 * signs), ca-key.pem (its key), root-cert.pem (the trust anchor(s)) and cert-chain.pem
 * (ca-cert up to the root; optional when ca-cert is signed by the root directly). The
 * chain is checked here, so a wrong file is reported at start, not as failed handshakes.
 */
export async function loadCacerts(dir: string, now: Date): Promise<CaMaterial> {
  const path = (name: string) => join(dir, name);
  const read = async (name: string): Promise<string> => {
    const text = await readOptional(path(name));
    if (text === undefined) throw new CaError("config", `${path(name)}: missing; a cacerts directory needs ${CACERTS_FILES.cert}, ${CACERTS_FILES.key} and ${CACERTS_FILES.root} (and ${CACERTS_FILES.chain} when there are intermediates)`);
    return text;
  };
  const [certPem, keyPem, rootPem, chainPem] = await Promise.all([read(CACERTS_FILES.cert), read(CACERTS_FILES.key), read(CACERTS_FILES.root), readOptional(path(CACERTS_FILES.chain))]);
  const [signingCert] = parseCertificates(certPem, path(CACERTS_FILES.cert));
  const roots = parseCertificates(rootPem, path(CACERTS_FILES.root));
  const chain = chainPem && chainPem.trim() ? parseCertificates(chainPem, path(CACERTS_FILES.chain)) : [];
  checkUsableCa(signingCert, path(CACERTS_FILES.cert), now);
  if (!keyMatchesCertificate(keyPem, signingCert)) {
    throw new CaError("config", `${path(CACERTS_FILES.key)}: the key does not belong to the certificate in ${path(CACERTS_FILES.cert)}; give the key the CA certificate was issued for`);
  }
  const intermediates = buildPathToRoot(signingCert, chain, roots, dir);
  return {
    signingCert,
    key: await importSigningKey(keyPem, path(CACERTS_FILES.key)),
    intermediatesPem: [...(roots.some((r) => sameCertificate(r, signingCert)) ? [] : [signingCert]), ...intermediates].map(pemOf),
    rootsPem: roots.map(pemOf),
    source: `cacerts in ${dir}`,
  };
}

/**
 * Walks from `leaf` to one of `roots` through `pool`, checking each signature. Returns
 * the certificates strictly between the two. Bounded: a chain longer than 8 is refused.
 */
function buildPathToRoot(leaf: X509Certificate, pool: X509Certificate[], roots: X509Certificate[], dir: string): X509Certificate[] {
  const between: X509Certificate[] = [];
  let current = leaf;
  for (let depth = 0; depth < 8; depth++) {
    if (roots.some((r) => sameCertificate(r, current))) return between;
    const root = roots.find((r) => current.checkIssued(r) && current.verify(r.publicKey));
    if (root) return between;
    const next = pool.find((c) => !sameCertificate(c, current) && !roots.some((r) => sameCertificate(r, c)) && current.checkIssued(c) && current.verify(c.publicKey));
    if (!next) break;
    between.push(next);
    current = next;
  }
  throw new CaError(
    "config",
    `${join(dir, CACERTS_FILES.cert)}: does not chain to ${join(dir, CACERTS_FILES.root)} (stuck at "${current.subject}", issued by "${current.issuer}"); put the missing intermediates in ${CACERTS_FILES.chain} or the right root in ${CACERTS_FILES.root}`,
  );
}
