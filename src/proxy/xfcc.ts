// x-forwarded-client-cert, as Envoy's HCM sets it (forward_client_cert_details and
// set_current_client_cert_details): on a mutual-TLS connection the element
// `By=<our URI SAN>;Hash=<SHA-256 of the client certificate>;Subject="...";URI=<client's
// URI SAN>;DNS=...` is appended (APPEND_FORWARD, Istio's sidecars) or replaces the header
// (SANITIZE_SET); without mTLS the header is removed unless ALWAYS_FORWARD_ONLY.
import type { Socket } from "node:net";
import type { TLSSocket, PeerCertificate } from "node:tls";
import { ConfigError, obj, str, type Json } from "./json.ts";
import { peerSans } from "./upstream/index.ts";

export type XfccMode = "SANITIZE" | "FORWARD_ONLY" | "APPEND_FORWARD" | "SANITIZE_SET" | "ALWAYS_FORWARD_ONLY";
const MODES: readonly XfccMode[] = ["SANITIZE", "FORWARD_ONLY", "APPEND_FORWARD", "SANITIZE_SET", "ALWAYS_FORWARD_ONLY"];

export interface XfccConfig {
  mode: XfccMode;
  subject: boolean;
  uri: boolean;
  dns: boolean;
}

export function parseXfcc(json: Json, path: string): XfccConfig {
  const mode = (str(json.forward_client_cert_details) ?? "SANITIZE") as XfccMode;
  if (!MODES.includes(mode)) throw new ConfigError(`${path}.forward_client_cert_details`, `unknown mode "${mode}"; use one of ${MODES.join(", ")}`);
  const set = obj(json.set_current_client_cert_details) ?? {};
  for (const k of Object.keys(set)) {
    if (!["subject", "uri", "dns"].includes(k)) throw new ConfigError(`${path}.set_current_client_cert_details.${k}`, "field is not implemented by the skiff proxy (subject, uri and dns are)");
  }
  return { mode, subject: set.subject === true, uri: set.uri === true, dns: set.dns === true };
}

const sans = (cert: PeerCertificate | null | undefined, type: string): string[] =>
  cert ? peerSans(cert).flatMap(([t, value]) => (t === type ? [value] : [])) : [];

/** This connection's element, or undefined when it is not mutual TLS. */
function element(socket: Socket, config: XfccConfig): string | undefined {
  const tls = socket as Partial<TLSSocket>;
  if (!tls.encrypted || typeof tls.getPeerCertificate !== "function") return undefined;
  const peer = tls.getPeerCertificate(false);
  if (!peer || Object.keys(peer).length === 0) return undefined;
  const own = tls.getCertificate?.() as PeerCertificate | null | undefined;
  const parts: string[] = [];
  const by = sans(own, "URI")[0];
  if (by) parts.push(`By=${by}`);
  if (peer.fingerprint256) parts.push(`Hash=${peer.fingerprint256.replaceAll(":", "").toLowerCase()}`);
  if (config.subject) {
    const subject = Object.entries(peer.subject ?? {}).map(([k, v]) => `${k}=${String(v)}`).join(",");
    parts.push(`Subject="${subject.replaceAll('"', '\\"')}"`);
  }
  if (config.uri) for (const u of sans(peer, "URI")) parts.push(`URI=${u}`);
  if (config.dns) for (const d of sans(peer, "DNS")) parts.push(`DNS=${d}`);
  return parts.join(";");
}

/**
 * Each connection's element, built on its first request. WHY: a connection's certificates
 * never change, and getPeerCertificate/getCertificate build new objects from OpenSSL on
 * every call — per request that was 18% of an mTLS server sidecar's busy time in the
 * data-plane bench. A socket is served by one HCM, so one config per socket.
 */
const elements = new WeakMap<Socket, string | null>();

function connectionElement(socket: Socket, config: XfccConfig): string | undefined {
  let mine = elements.get(socket);
  if (mine === undefined) {
    mine = element(socket, config) ?? null;
    elements.set(socket, mine);
  }
  return mine ?? undefined;
}

/** Rewrite `headers["x-forwarded-client-cert"]` for a request on `socket`. */
export function applyXfcc(config: XfccConfig, headers: Record<string, string | string[] | number | undefined>, socket: Socket): void {
  if (config.mode === "ALWAYS_FORWARD_ONLY") return;
  // SANITIZE removes the header whether or not the connection is mutual TLS: no element needed.
  if (config.mode === "SANITIZE") {
    delete headers["x-forwarded-client-cert"];
    return;
  }
  const mine = connectionElement(socket, config);
  if (mine === undefined) {
    delete headers["x-forwarded-client-cert"];
    return;
  }
  const current = headers["x-forwarded-client-cert"];
  const existing = current === undefined ? "" : Array.isArray(current) ? current.join(",") : String(current);
  switch (config.mode) {
    case "FORWARD_ONLY":
      return;
    case "APPEND_FORWARD":
      headers["x-forwarded-client-cert"] = existing ? `${existing},${mine}` : mine;
      return;
    case "SANITIZE_SET":
      headers["x-forwarded-client-cert"] = mine;
      return;
  }
}
