// The mesh CA: signs workload certificates (X.509 SVIDs) for identities a verifier has
// proven, and serving certificates for the control plane. It never makes a workload's
// key: the workload sends a CSR and keeps its key; the CA only certifies the public key.
import { createPublicKey } from "node:crypto";
import { x509 } from "./x509.ts";
import { loadCacerts, loadOrCreateSelfSignedRoot, randomSerialHex, type CaMaterial } from "./ca-material.ts";
import { CaError } from "./errors.ts";
import { generateP256, privateKeyPem } from "./keys.ts";
import { pemOf } from "./pem.ts";
import { spiffeId } from "./spiffe.ts";
import type { VerifiedIdentity } from "./token.ts";

export const DEFAULT_TRUST_DOMAIN = "cluster.local";
export const DEFAULT_WORKLOAD_TTL_SECONDS = 24 * 3600;
/** Istio's default max-workload-cert-ttl. */
export const DEFAULT_MAX_WORKLOAD_TTL_SECONDS = 90 * 24 * 3600;

export interface MeshCaOptions {
  trustDomain?: string;
  /** Injectable clock (ms since epoch): tests of rotation share one with the agent. */
  now?: () => number;
  maxTtlSeconds?: number;
}

export type MeshCaSource = { kind: "self-signed"; dir: string } | { kind: "cacerts"; dir: string };

export interface SignRequest {
  identity: VerifiedIdentity;
  /** Requested lifetime; default 24 h, at most maxTtlSeconds. */
  ttlSeconds?: number;
}

export interface SignedSvid {
  /** PEM: the workload certificate, the intermediates, the root last (Istio's cert_chain order). */
  certChainPem: string[];
  spiffeId: string;
  serial: string;
  notBefore: Date;
  notAfter: Date;
}

export interface ServingCertificate {
  /** PEM: leaf then intermediates, what a TLS server presents. */
  certChainPem: string;
  keyPem: string;
  rootsPem: string;
  notBefore: Date;
  notAfter: Date;
}

export class MeshCa {
  readonly trustDomain: string;
  readonly source: string;
  readonly #material: CaMaterial;
  readonly #now: () => number;
  readonly #maxTtlSeconds: number;

  private constructor(material: CaMaterial, opts: MeshCaOptions) {
    this.#material = material;
    this.trustDomain = opts.trustDomain ?? DEFAULT_TRUST_DOMAIN;
    this.#now = opts.now ?? Date.now;
    this.#maxTtlSeconds = opts.maxTtlSeconds ?? DEFAULT_MAX_WORKLOAD_TTL_SECONDS;
    this.source = material.source;
  }

  /** The default CA: a self-signed root kept in `dir` (made on first start). */
  static async selfSigned(dir: string, opts: MeshCaOptions = {}): Promise<MeshCa> {
    const now = new Date((opts.now ?? Date.now)());
    return new MeshCa(await loadOrCreateSelfSignedRoot(dir, { trustDomain: opts.trustDomain ?? DEFAULT_TRUST_DOMAIN, now }), opts);
  }

  /** A user's CA from Istio's cacerts layout (signs as an intermediate, hands out the chain). */
  static async fromCacerts(dir: string, opts: MeshCaOptions = {}): Promise<MeshCa> {
    return new MeshCa(await loadCacerts(dir, new Date((opts.now ?? Date.now)())), opts);
  }

  static async load(source: MeshCaSource, opts: MeshCaOptions = {}): Promise<MeshCa> {
    return source.kind === "cacerts" ? MeshCa.fromCacerts(source.dir, opts) : MeshCa.selfSigned(source.dir, opts);
  }

  /** The trust bundle: every root certificate, PEM, concatenated. */
  rootsPem(): string {
    return this.#material.rootsPem.join("");
  }

  /** The certificate that signs workload certificates (the root, or the plugged-in intermediate). */
  signingCertificatePem(): string {
    return pemOf(this.#material.signingCert);
  }

  /**
   * Signs a CSR for a proven identity. The URI SAN is set from the identity, never taken
   * from the CSR; a CSR that asks for any other name is refused rather than silently
   * rewritten, because it means the workload believes it is someone it is not.
   */
  async sign(csrPem: string, request: SignRequest): Promise<SignedSvid> {
    const id = spiffeId(this.trustDomain, request.identity);
    const csr = parseCsr(csrPem);
    if (!(await csr.verify())) throw new CaError("invalid-argument", "CSR: its signature does not verify with its own public key (no proof of possession of the key)");
    checkWorkloadKey(csr);
    checkRequestedNames(csr, id);

    const ttl = request.ttlSeconds ?? DEFAULT_WORKLOAD_TTL_SECONDS;
    if (!Number.isInteger(ttl) || ttl <= 0) throw new CaError("invalid-argument", `validity_duration: ${ttl} s is not a positive whole number of seconds`);
    if (ttl > this.#maxTtlSeconds) {
      throw new CaError("invalid-argument", `validity_duration: ${ttl} s exceeds the CA's maximum workload certificate lifetime of ${this.#maxTtlSeconds} s; ask for less`);
    }
    const { notBefore, notAfter } = this.#validity(ttl);
    const cert = await this.#issue({
      publicKey: csr.publicKey,
      notBefore,
      notAfter,
      extensions: [
        // No subject: the identity is the SAN, which must then be critical (RFC 5280 4.2.1.6).
        new x509.SubjectAlternativeNameExtension([{ type: "url", value: id }], true),
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
      ],
    });
    const leafPem = cert.toString("pem") + "\n";
    return {
      certChainPem: [leafPem, ...this.#material.intermediatesPem, ...this.#material.rootsPem.slice(0, 1)],
      spiffeId: id,
      serial: cert.serialNumber,
      notBefore,
      notAfter,
    };
  }

  /**
   * A TLS serving certificate for the control plane (the CA service now, xDS on 15012
   * later). The key is made here because it belongs to the control plane itself.
   */
  async issueServingCertificate(opts: { dnsNames: string[]; ips?: string[]; ttlSeconds?: number }): Promise<ServingCertificate> {
    const keys = await generateP256();
    const { notBefore, notAfter } = this.#validity(opts.ttlSeconds ?? 365 * 24 * 3600);
    const names: { type: "dns" | "ip"; value: string }[] = [
      ...opts.dnsNames.map((value) => ({ type: "dns" as const, value })),
      ...(opts.ips ?? []).map((value) => ({ type: "ip" as const, value })),
    ];
    const cert = await this.#issue({
      publicKey: keys.publicKey,
      notBefore,
      notAfter,
      extensions: [
        new x509.SubjectAlternativeNameExtension(names, true),
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      ],
    });
    return {
      certChainPem: [cert.toString("pem") + "\n", ...this.#material.intermediatesPem].join(""),
      keyPem: await privateKeyPem(keys.privateKey),
      rootsPem: this.rootsPem(),
      notBefore,
      notAfter,
    };
  }

  #validity(ttlSeconds: number): { notBefore: Date; notAfter: Date } {
    // X.509 times have whole seconds; round down so notAfter - notBefore is the TTL exactly.
    const start = Math.floor(this.#now() / 1000) * 1000;
    const notBefore = new Date(start);
    let notAfter = new Date(start + ttlSeconds * 1000);
    // A certificate cannot outlive its issuer: cap at the signing certificate's expiry.
    const caEnd = new Date(this.#material.signingCert.validTo);
    if (notAfter > caEnd) notAfter = caEnd;
    return { notBefore, notAfter };
  }

  async #issue(params: { publicKey: x509.PublicKeyType; notBefore: Date; notAfter: Date; extensions: x509.Extension[] }): Promise<x509.X509Certificate> {
    const issuer = new x509.X509Certificate(this.#material.signingCert.raw);
    const akiSource = issuer.getExtension(x509.SubjectKeyIdentifierExtension);
    return x509.X509CertificateGenerator.create({
      serialNumber: randomSerialHex(),
      subject: "",
      issuer: issuer.subjectName,
      notBefore: params.notBefore,
      notAfter: params.notAfter,
      publicKey: params.publicKey,
      signingKey: this.#material.key.privateKey,
      signingAlgorithm: this.#material.key.signingAlgorithm,
      extensions: [
        ...params.extensions,
        await x509.SubjectKeyIdentifierExtension.create(params.publicKey),
        akiSource ? new x509.AuthorityKeyIdentifierExtension(akiSource.keyId) : await x509.AuthorityKeyIdentifierExtension.create(this.#material.key.publicKey),
      ],
    });
  }
}

function parseCsr(csrPem: string): x509.Pkcs10CertificateRequest {
  if (!/-----BEGIN (NEW )?CERTIFICATE REQUEST-----/.test(csrPem)) {
    throw new CaError("invalid-argument", 'CSR: not a PEM certificate request (expected "-----BEGIN CERTIFICATE REQUEST-----")');
  }
  try {
    return new x509.Pkcs10CertificateRequest(csrPem.replace(/NEW CERTIFICATE REQUEST/g, "CERTIFICATE REQUEST"));
  } catch (err) {
    throw new CaError("invalid-argument", `CSR: cannot be parsed (${(err as Error).message})`);
  }
}

/** Workload keys strong enough for mesh mTLS: ECDSA P-256/P-384, or RSA of 2048 bits or more. */
function checkWorkloadKey(csr: x509.Pkcs10CertificateRequest): void {
  const key = createPublicKey({ key: Buffer.from(csr.publicKey.rawData), format: "der", type: "spki" });
  const details = key.asymmetricKeyDetails ?? {};
  if (key.asymmetricKeyType === "ec" && (details.namedCurve === "prime256v1" || details.namedCurve === "secp384r1")) return;
  if (key.asymmetricKeyType === "rsa" && (details.modulusLength ?? 0) >= 2048) return;
  throw new CaError("invalid-argument", `CSR: key ${key.asymmetricKeyType} ${details.namedCurve ?? details.modulusLength ?? ""} is not accepted; use ECDSA P-256 (or P-384, or RSA >= 2048)`);
}

const SAN_OID = "2.5.29.17";

function checkRequestedNames(csr: x509.Pkcs10CertificateRequest, id: string): void {
  let requested: string[];
  try {
    const san = csr.getExtension(SAN_OID);
    if (san && !(san instanceof x509.SubjectAlternativeNameExtension)) throw new Error("unrecognised extension encoding");
    requested = san ? san.names.items.map((n) => (n.type === "url" ? n.value : `${n.type}:${n.value}`)) : [];
  } catch (err) {
    throw new CaError("invalid-argument", `CSR: its subjectAltName cannot be read (${(err as Error).message}); request only the workload's SPIFFE URI, or no SAN`);
  }
  const other = requested.filter((name) => name !== id);
  if (other.length > 0) {
    throw new CaError(
      "permission-denied",
      `CSR asks for ${other.map((n) => `"${n}"`).join(", ")} but the caller's token proves "${id}"; request the token's own identity (or no SAN: the CA sets it)`,
    );
  }
}
