// A workload's certificate as the agent holds it, and how it is shown to people
// (`skiff proxy-config secret` shows the same fields as istioctl's: resource name,
// type, serial, validity, and here also the SPIFFE ID).
import { X509Certificate } from "node:crypto";
import { peerSpiffeId } from "../ca/index.ts";

export interface Svid {
  /** The workload's own PEM key: generated here, never sent anywhere. */
  keyPem: string;
  /** PEM: leaf then intermediates (what a TLS endpoint presents). */
  certChainPem: string;
  /** PEM trust bundle the peers are verified against. */
  rootsPem: string;
  spiffeId: string;
  serial: string;
  notBefore: Date;
  notAfter: Date;
}

export interface CertificateSummary {
  subject: string;
  issuer: string;
  serial: string;
  notBefore: string;
  notAfter: string;
  sans: string;
}

export interface SecretDescription {
  /** Istio's SDS names: "default" is the workload certificate, "ROOTCA" the trust bundle. */
  resourceName: "default" | "ROOTCA";
  type: "Cert Chain" | "CA";
  spiffeId?: string;
  serial: string;
  notBefore: string;
  notAfter: string;
  /** True when `at` lies within the leaf's validity. */
  valid: boolean;
  chain: CertificateSummary[];
}

function summarize(cert: X509Certificate): CertificateSummary {
  return {
    subject: cert.subject,
    issuer: cert.issuer,
    serial: cert.serialNumber.toLowerCase(),
    notBefore: new Date(cert.validFrom).toISOString(),
    notAfter: new Date(cert.validTo).toISOString(),
    sans: cert.subjectAltName ?? "",
  };
}

function certificates(pem: string): X509Certificate[] {
  return (pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).map((b) => new X509Certificate(b));
}

/** The workload certificate and the root bundle, as `proxy-config secret` lists them. */
export function describe(svid: Svid, at: Date = new Date()): SecretDescription[] {
  const chain = certificates(svid.certChainPem);
  const roots = certificates(svid.rootsPem);
  const within = (c: X509Certificate) => new Date(c.validFrom) <= at && at < new Date(c.validTo);
  const leaf = chain[0];
  const root = roots[0];
  return [
    {
      resourceName: "default",
      type: "Cert Chain",
      spiffeId: peerSpiffeId(leaf),
      serial: leaf.serialNumber.toLowerCase(),
      notBefore: new Date(leaf.validFrom).toISOString(),
      notAfter: new Date(leaf.validTo).toISOString(),
      valid: within(leaf),
      chain: chain.map(summarize),
    },
    {
      resourceName: "ROOTCA",
      type: "CA",
      serial: root.serialNumber.toLowerCase(),
      notBefore: new Date(root.validFrom).toISOString(),
      notAfter: new Date(root.validTo).toISOString(),
      valid: within(root),
      chain: roots.map(summarize),
    },
  ];
}

/** node:tls options for mesh mTLS with this SVID (both directions verify the peer's chain). */
export function svidTlsOptions(svid: Svid): { key: string; cert: string; ca: string } {
  return { key: svid.keyPem, cert: svid.certChainPem, ca: svid.rootsPem };
}
