// Proxy-to-proxy tests over mesh mTLS: real SPIFFE certificates from a throwaway mesh CA,
// obtained the way a sidecar's agent obtains them (CSR + runtime token), and a one-chain
// loopback listener to put translation's TLS contexts on.
import { join } from "node:path";
import { MeshCa, RuntimeTokenIssuer, RuntimeTokenVerifier } from "../../../src/ca/index.ts";
import { CertManager, type CertificateSigner, type Svid } from "../../../src/agent/index.ts";
import type { Json } from "./fixtures.ts";

/** The SPIFFE ID of a service account of namespace `demo`. */
export const ID = (sa: string): string => `spiffe://cluster.local/ns/demo/sa/${sa}`;

/** A new mesh CA under `dir` and a factory of (not yet started) certificate managers
 *  for service accounts (of namespace `demo` unless told), which get their SVIDs from it. */
export async function meshOf(dir: string): Promise<{ ca: MeshCa; manager: (serviceAccount: string, namespace?: string) => CertManager }> {
  const ca = await MeshCa.selfSigned(join(dir, "ca"));
  const runtime = RuntimeTokenIssuer.generate();
  const verifier = new RuntimeTokenVerifier({ publicKeysPem: [runtime.publicKeyPem] });
  const signer: CertificateSigner = { createCertificate: async (csr, ttl, token) => (await ca.sign(csr, { identity: await verifier.verify(token), ttlSeconds: ttl })).certChainPem };
  const manager = (serviceAccount: string, namespace = "demo"): CertManager =>
    new CertManager({ signer, rootsPem: ca.rootsPem(), identity: { namespace, serviceAccount }, token: () => runtime.issue({ namespace, serviceAccount }), log: () => {} });
  return { ca, manager };
}

/** One SVID per service account of namespace `demo`, all signed by one new CA under `dir`. */
export async function svids(dir: string, ...accounts: string[]): Promise<Svid[]> {
  const { manager } = await meshOf(dir);
  return Promise.all(accounts.map((serviceAccount) => manager(serviceAccount).start()));
}

/** A listener on an ephemeral loopback port with one filter chain. */
export function listener(chain: Json): Json {
  return { name: "l", address: { socket_address: { address: "127.0.0.1", port_value: 0 } }, filter_chains: [chain] };
}
