// Downstream TLS termination from a filter chain's transport_socket
// (envoy.transport_sockets.tls + DownstreamTlsContext): the server certificate (SDS secret
// or tls_certificates from files/inline, for gateways), client certificate validation
// (trusted CA or SDS validation secret, SAN matchers, require_client_certificate), ALPN
// and TLS versions. The listener has already peeked at the ClientHello; node:tls takes the
// socket over from there and the chain's filters see the decrypted TLSSocket.
import tls from "node:tls";
import type { Socket } from "node:net";
import { ConfigError, obj, str } from "./json.ts";
import { SAN_TYPES, parseUpstreamTls, peerSans, sanMatches, type TlsSecret, type TlsSpec } from "./upstream/index.ts";

export const TLS_TRANSPORT_SOCKET = "envoy.transport_sockets.tls";
export const RAW_BUFFER_TRANSPORT_SOCKET = "envoy.transport_sockets.raw_buffer";
const DOWNSTREAM_TYPE = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext";
const RAW_BUFFER_TYPE = "type.googleapis.com/envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer";

export type SecretSource = (name: string) => TlsSecret | undefined;

export interface DownstreamTls {
  spec: TlsSpec;
  requireClientCertificate: boolean;
  minVersion: tls.SecureVersion | undefined;
  maxVersion: tls.SecureVersion | undefined;
  /** SDS secret names this context needs (the listener warms until they arrive). */
  secretNames: string[];
}

const VERSIONS: Record<string, tls.SecureVersion | undefined> = {
  TLS_AUTO: undefined,
  TLSv1_0: "TLSv1",
  TLSv1_1: "TLSv1.1",
  TLSv1_2: "TLSv1.2",
  TLSv1_3: "TLSv1.3",
};

function tlsVersion(v: unknown, path: string): tls.SecureVersion | undefined {
  if (v === undefined) return undefined;
  const s = str(v) ?? String(v);
  if (!(s in VERSIONS)) throw new ConfigError(path, `unknown TLS version "${s}"; use TLS_AUTO, TLSv1_0, TLSv1_1, TLSv1_2 or TLSv1_3`);
  return VERSIONS[s];
}

/**
 * Parse a filter chain's transport_socket. Undefined for plaintext (absent or raw_buffer).
 * Unknown fields are a NACK naming the field, as everywhere in the proxy.
 */
export function parseTransportSocket(json: unknown, path: string): DownstreamTls | undefined {
  const ts = obj(json);
  if (!ts) return undefined;
  const typed = obj(ts.typed_config) ?? {};
  const type = str(typed["@type"]);
  if (type === RAW_BUFFER_TYPE || (type === undefined && ts.name === RAW_BUFFER_TRANSPORT_SOCKET)) return undefined;
  if (type !== DOWNSTREAM_TYPE) throw new ConfigError(`${path}.typed_config`, `transport socket "${String(ts.name)}" (${type ?? "no typed_config"}) is not implemented by the skiff proxy; use envoy.transport_sockets.tls with a DownstreamTlsContext`);
  const tpath = `${path}.typed_config`;
  const known = ["@type", "common_tls_context", "require_client_certificate"];
  const harmless = ["require_sni", "session_timeout", "disable_stateless_session_resumption", "full_scan_certs_on_sni_mismatch"];
  for (const k of Object.keys(typed)) if (!known.includes(k) && !harmless.includes(k)) throw new ConfigError(`${tpath}.${k}`, "field is not implemented by the skiff proxy");
  const common = obj(typed.common_tls_context) ?? {};
  const cpath = `${tpath}.common_tls_context`;
  const params = obj(common.tls_params) ?? {};
  for (const k of Object.keys(params)) {
    if (!["tls_minimum_protocol_version", "tls_maximum_protocol_version", "cipher_suites", "ecdh_curves"].includes(k)) throw new ConfigError(`${cpath}.tls_params.${k}`, "field is not implemented by the skiff proxy");
  }
  // Certificates, validation and ALPN have the same shape on both sides: reuse the
  // upstream half's parser (it reads files and inline data once, here at config time).
  const problems: Array<[string, string]> = [];
  const spec = parseUpstreamTls({ common_tls_context: common }, tpath, (field, msg) => problems.push([field, msg]));
  if (problems.length) throw new ConfigError(problems[0][0], problems[0][1]);
  const minVersion = tlsVersion(params.tls_minimum_protocol_version, `${cpath}.tls_params.tls_minimum_protocol_version`);
  const maxVersion = tlsVersion(params.tls_maximum_protocol_version, `${cpath}.tls_params.tls_maximum_protocol_version`);
  if (!spec.cert) throw new ConfigError(`${cpath}`, "a server needs a certificate: tls_certificates or tls_certificate_sds_secret_configs");
  const secretNames = [spec.cert.chain, spec.ca].flatMap((s) => (s && "sds" in s ? [s.sds] : []));
  return { spec, requireClientCertificate: typed.require_client_certificate === true, minVersion, maxVersion, secretNames: [...new Set(secretNames)] };
}

function pem(source: TlsSpec["ca"], secrets: SecretSource, pick: (s: TlsSecret) => string | undefined): string | undefined {
  if (!source) return undefined;
  if ("inline" in source) return source.inline;
  const secret = secrets(source.sds);
  const value = secret && pick(secret);
  if (!value) throw new Error(`SDS secret "${source.sds}" has not arrived`);
  return value;
}

/**
 * A server for one filter chain: a node:tls Server that never listens; the listener hands
 * it connections it already peeked at. Its context is rebuilt with setSecureContext when
 * a secret changed (rotation): new handshakes get the new certificate, open connections
 * keep theirs.
 */
export class DownstreamTlsServer {
  private server: tls.Server | undefined;
  private generationSeen = -1;
  private readonly pending = new Map<string, (secure: tls.TLSSocket | undefined, why?: string) => void>();

  constructor(
    readonly config: DownstreamTls,
    private readonly secrets: SecretSource,
    private readonly generation: () => number,
  ) {}

  private contextOptions(): tls.SecureContextOptions {
    const spec = this.config.spec;
    const cert = pem(spec.cert?.chain, this.secrets, (s) => s.certificateChain);
    const key = spec.cert?.key ? pem(spec.cert.key, this.secrets, (s) => s.privateKey) : pem(spec.cert?.chain, this.secrets, (s) => s.privateKey);
    const ca = pem(spec.ca, this.secrets, (s) => s.trustedCa);
    return { cert, key, ca, minVersion: this.config.minVersion, maxVersion: this.config.maxVersion };
  }

  /** The tls.Server with the current secrets (throws a sentence when one has not arrived). */
  private current(): tls.Server {
    const gen = this.generation();
    if (this.server && gen === this.generationSeen) return this.server;
    const options = this.contextOptions();
    if (!this.server) {
      const validates = this.config.spec.ca !== undefined;
      this.server = tls.createServer({
        ...options,
        // Ask for a client certificate whenever we can validate one; refuse the handshake
        // without one only when required (Envoy's require_client_certificate).
        requestCert: validates,
        rejectUnauthorized: validates && this.config.requireClientCertificate,
        ALPNProtocols: this.config.spec.alpn.length ? this.config.spec.alpn : undefined,
      });
      this.server.on("secureConnection", (secure: tls.TLSSocket) => this.settle(secure, secure));
      this.server.on("tlsClientError", (err: Error, secure: tls.TLSSocket) => this.settle(secure, undefined, err.message));
    } else {
      this.server.setSecureContext(options);
    }
    this.generationSeen = gen;
    return this.server;
  }

  private settle(socket: { remoteAddress?: string; remotePort?: number }, secure: tls.TLSSocket | undefined, why?: string): void {
    const key = `${socket.remoteAddress}:${socket.remotePort}`;
    const done = this.pending.get(key);
    if (!done) return;
    this.pending.delete(key);
    done(secure, why);
  }

  /**
   * Handshake on `socket`; resolves with the decrypted socket, or undefined when the
   * handshake or the client certificate check failed (the connection is closed).
   */
  accept(socket: Socket, timeoutMs: number, log: (msg: string) => void): Promise<tls.TLSSocket | undefined> {
    let server: tls.Server;
    try {
      server = this.current();
    } catch (err) {
      log(`TLS not ready: ${(err as Error).message}; closing the connection`);
      socket.destroy();
      return Promise.resolve(undefined);
    }
    const spec = this.config.spec;
    // Connections are told apart by their peer address:port (unique on one listener).
    const key = `${socket.remoteAddress}:${socket.remotePort}`;
    return new Promise((resolve) => {
      const finish = (secure: tls.TLSSocket | undefined, why?: string): void => {
        clearTimeout(timer);
        socket.off("close", onClose);
        this.pending.delete(key);
        if (!secure) {
          log(`downstream TLS from ${key}: ${why ?? "handshake failed"}`);
          socket.destroy();
          return resolve(undefined);
        }
        const peer = secure.getPeerCertificate(false);
        const presented = peer !== undefined && Object.keys(peer).length > 0;
        // A presented certificate must verify even when it is optional, as in Envoy.
        if (presented && spec.ca !== undefined && !secure.authorized) return reject(secure, `client certificate refused: ${String(secure.authorizationError)}`);
        if (presented && spec.san.length > 0) {
          const sans = peerSans(peer);
          const ok = spec.san.some((m) => sans.some(([t, v]) => SAN_TYPES[m.type].includes(t) && sanMatches(m, v)));
          if (!ok) return reject(secure, `client certificate SANs (${peer.subjectaltname ?? "none"}) match none of the configured subject alt names`);
        }
        secure.on("error", () => secure.destroy());
        resolve(secure);
      };
      const reject = (secure: tls.TLSSocket, why: string): void => {
        log(`downstream TLS from ${key}: ${why}`);
        secure.destroy();
        socket.destroy();
        resolve(undefined);
      };
      const onClose = (): void => finish(undefined, "closed during the handshake");
      const timer = setTimeout(() => finish(undefined, "handshake timed out"), timeoutMs);
      socket.once("close", onClose);
      this.pending.set(key, finish);
      server.emit("connection", socket);
    });
  }
}
