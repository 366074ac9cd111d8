// SPIFFE IDs as Istio writes them: spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>.
import { X509Certificate } from "node:crypto";

export interface WorkloadIdentity {
  namespace: string;
  serviceAccount: string;
}

// Kubernetes names (DNS-1123 labels/subdomains) — what namespaces and service accounts
// can be. Anything else in an ID would be an injection attempt or a typo.
const NAME = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

export function isValidName(name: string): boolean {
  return name.length > 0 && name.length <= 253 && NAME.test(name);
}

export function spiffeId(trustDomain: string, identity: WorkloadIdentity): string {
  return `spiffe://${trustDomain}/ns/${identity.namespace}/sa/${identity.serviceAccount}`;
}

export interface ParsedSpiffeId extends WorkloadIdentity {
  trustDomain: string;
}

/** Parses an Istio-shaped SPIFFE ID; undefined when it is not one. */
export function parseSpiffeId(uri: string): ParsedSpiffeId | undefined {
  const m = /^spiffe:\/\/([^/]+)\/ns\/([^/]+)\/sa\/([^/]+)$/.exec(uri);
  if (!m) return undefined;
  const [, trustDomain, namespace, serviceAccount] = m;
  if (!isValidName(namespace) || !isValidName(serviceAccount)) return undefined;
  return { trustDomain, namespace, serviceAccount };
}

/**
 * The URI SANs of a certificate (PEM text, or an object with Node's `subjectaltname`
 * string as tls.getPeerCertificate() returns it). Used on both sides of an mTLS
 * handshake to learn who the peer is.
 */
export function uriSans(cert: string | Buffer | X509Certificate | { subjectaltname?: string }): string[] {
  let text: string | undefined;
  if (typeof cert === "string" || Buffer.isBuffer(cert)) text = new X509Certificate(cert).subjectAltName;
  else if (cert instanceof X509Certificate) text = cert.subjectAltName;
  else text = cert.subjectaltname;
  if (!text) return [];
  // Node writes "DNS:a, URI:spiffe://..."; SPIFFE IDs never hold ", " so a split is exact.
  return text
    .split(", ")
    .filter((part) => part.startsWith("URI:"))
    .map((part) => part.slice(4).replace(/^"(.*)"$/, "$1"));
}

/** The one SPIFFE ID of a peer certificate, or undefined when it has none (or several). */
export function peerSpiffeId(cert: string | Buffer | X509Certificate | { subjectaltname?: string }): string | undefined {
  const ids = uriSans(cert).filter((u) => u.startsWith("spiffe://"));
  return ids.length === 1 ? ids[0] : undefined;
}
