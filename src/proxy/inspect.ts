// Listener inspection (Envoy's tls_inspector + http_inspector): peek at the first bytes
// of a connection to learn the transport protocol, SNI and ALPN of a TLS ClientHello,
// or HTTP/1.x vs HTTP/2 (prior knowledge preface) on plaintext. The bytes are put back
// with unshift so the chosen filter chain sees the connection from its first byte.
import type { Socket } from "node:net";
import { redirectedDestination } from "./original-dst.ts";

export interface Inspection {
  transportProtocol: "tls" | "raw_buffer";
  serverName: string | undefined;
  /** ALPN from the ClientHello, or what http_inspector infers ("http/1.1", "h2c"). */
  applicationProtocols: string[];
  /** Plaintext HTTP/2 with prior knowledge. */
  http2Preface: boolean;
}

const h2Preface = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
const maxPeek = 16 * 1024 + 5;

type Verdict = Inspection | "more";

/** Parse what we can from the bytes seen so far; "more" when they cannot decide yet. */
export function inspectBytes(buf: Buffer): Verdict {
  if (buf.length === 0) return "more";
  if (buf[0] === 0x16) return inspectTls(buf);
  const n = Math.min(buf.length, h2Preface.length);
  if (buf.subarray(0, n).equals(h2Preface.subarray(0, n))) {
    if (buf.length < h2Preface.length) return "more";
    return { transportProtocol: "raw_buffer", serverName: undefined, applicationProtocols: ["h2c"], http2Preface: true };
  }
  // HTTP/1.x: a request line ends with " HTTP/1.x\r\n"; give up after the first line.
  const eol = buf.indexOf("\r\n");
  if (eol < 0 && buf.length < 2048) return /^[A-Z]{1,16}( |$)/.test(buf.toString("latin1", 0, Math.min(buf.length, 17))) ? "more" : plain([]);
  const line = buf.toString("latin1", 0, eol < 0 ? buf.length : eol);
  const m = / HTTP\/1\.([01])$/.exec(line);
  return plain(m ? [m[1] === "1" ? "http/1.1" : "http/1.0"] : []);
}

function plain(alpn: string[]): Inspection {
  return { transportProtocol: "raw_buffer", serverName: undefined, applicationProtocols: alpn, http2Preface: false };
}

function inspectTls(buf: Buffer): Verdict {
  if (buf.length < 5) return "more";
  if (buf[1] !== 0x03) return plain([]);
  const recordLen = buf.readUInt16BE(3);
  if (buf.length < 5 + recordLen) return buf.length >= maxPeek ? tls(undefined, []) : "more";
  try {
    return parseClientHello(buf.subarray(5, 5 + recordLen));
  } catch {
    return tls(undefined, []);
  }
}

function tls(serverName: string | undefined, alpn: string[]): Inspection {
  return { transportProtocol: "tls", serverName, applicationProtocols: alpn, http2Preface: false };
}

function parseClientHello(hs: Buffer): Inspection {
  if (hs[0] !== 0x01) return tls(undefined, []);
  let p = 4 + 2 + 32; // handshake header, client_version, random
  p += 1 + hs[p]; // session id
  p += 2 + hs.readUInt16BE(p); // cipher suites
  p += 1 + hs[p]; // compression methods
  if (p + 2 > hs.length) return tls(undefined, []);
  const extEnd = p + 2 + hs.readUInt16BE(p);
  p += 2;
  let serverName: string | undefined;
  const alpn: string[] = [];
  while (p + 4 <= extEnd && p + 4 <= hs.length) {
    const type = hs.readUInt16BE(p);
    const len = hs.readUInt16BE(p + 2);
    const data = hs.subarray(p + 4, p + 4 + len);
    if (type === 0 && data.length >= 5) {
      // server_name list: one host_name entry (type 0)
      let q = 2;
      while (q + 3 <= data.length) {
        const nameType = data[q];
        const nameLen = data.readUInt16BE(q + 1);
        if (nameType === 0) {
          serverName = data.toString("ascii", q + 3, q + 3 + nameLen).toLowerCase();
          break;
        }
        q += 3 + nameLen;
      }
    } else if (type === 16 && data.length >= 2) {
      let q = 2;
      while (q < data.length) {
        const l = data[q];
        alpn.push(data.toString("ascii", q + 1, q + 1 + l));
        q += 1 + l;
      }
    }
    p += 4 + len;
  }
  return tls(serverName, alpn);
}

/**
 * Read until the first bytes decide, then put them back. Resolves with a plaintext
 * verdict if the peer sends nothing before `timeoutMs` (server-first protocols), as
 * Envoy does with continue_on_listener_filters_timeout.
 */
export function inspectSocket(socket: Socket, timeoutMs: number): Promise<Inspection | undefined> {
  return new Promise((resolve) => {
    let buf: Buffer = Buffer.alloc(0);
    const finish = (result: Inspection | undefined): void => {
      clearTimeout(timer);
      socket.off("data", onData);
      socket.off("end", onEnd);
      socket.off("error", onEnd);
      socket.pause();
      if (buf.length) socket.unshift(buf);
      resolve(result);
    };
    const onData = (chunk: Buffer): void => {
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      const v = inspectBytes(buf);
      if (v !== "more") finish(v);
      else if (buf.length >= maxPeek) finish(plain([]));
    };
    const onEnd = (): void => finish(undefined);
    const timer = setTimeout(() => finish(plain([])), timeoutMs);
    socket.on("data", onData);
    socket.once("end", onEnd);
    socket.once("error", onEnd);
    socket.resume(); // listeners accept with pauseOnConnect
  });
}

/**
 * The original destination of a redirected connection (SO_ORIGINAL_DST). Without the
 * native addon the best we know is the local address, which is right for connections
 * that were not redirected (and for process mode, where nothing is redirected).
 */
export function originalDestination(socket: Socket): { address: string; port: number } {
  const redirected = redirectedDestination(socket);
  if (redirected) return { address: normalizeAddress(redirected.address), port: redirected.port };
  return { address: normalizeAddress(socket.localAddress ?? ""), port: socket.localPort ?? 0 };
}

/** `::ffff:127.0.0.1` → `127.0.0.1` so IPv4 ranges match dual-stack sockets. */
export function normalizeAddress(address: string): string {
  return address.startsWith("::ffff:") && address.includes(".") ? address.slice(7) : address;
}
