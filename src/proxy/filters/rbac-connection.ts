// The facts about a downstream connection that RBAC principals and permissions read:
// peer and local address, SNI, and the peer certificate's SPIFFE ID. Computed once per
// socket (a WeakMap), since every request on a keep-alive connection asks again.
import type { Socket } from "node:net";
import type { TLSSocket } from "node:tls";
import type { ConnectionFacts } from "./rbac.ts";

const cache = new WeakMap<object, ConnectionFacts>();

function plain(address: string | undefined): string {
  const a = address ?? "";
  return a.startsWith("::ffff:") && a.includes(".") ? a.slice(7) : a;
}

/** The first URI SAN of the peer certificate ("URI:spiffe://…" in Node's subjectaltname). */
export function uriSanOf(subjectAltName: string | undefined): string {
  if (!subjectAltName) return "";
  for (const part of subjectAltName.split(/,\s*/)) if (part.startsWith("URI:")) return part.slice(4);
  return "";
}

/**
 * Facts for `socket`; `dest` overrides the local address when the listener knows the
 * original destination (iptables REDIRECT), and `serverName` when it peeked at the SNI.
 */
export function connectionFacts(socket: Socket, dest?: { address: string; port: number }, serverName?: string): ConnectionFacts {
  let facts = cache.get(socket);
  if (facts) return facts;
  const tls = socket as Partial<TLSSocket>;
  let peerPrincipal = "";
  if (typeof tls.getPeerCertificate === "function" && tls.encrypted) {
    const cert = tls.getPeerCertificate(false);
    peerPrincipal = uriSanOf(cert?.subjectaltname);
  }
  facts = {
    remoteAddress: plain(socket.remoteAddress),
    localAddress: dest?.address ?? plain(socket.localAddress),
    localPort: dest?.port ?? socket.localPort ?? 0,
    serverName: serverName ?? (typeof tls.servername === "string" ? tls.servername : ""),
    peerPrincipal,
  };
  cache.set(socket, facts);
  return facts;
}
