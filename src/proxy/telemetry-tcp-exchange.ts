// Istio's TCP metadata exchange (the istio.metadata_exchange network filter), so that TCP
// metrics carry both sides' workloads. It runs only on mesh mTLS connections whose ALPN
// came out as `istio-peer-exchange` (what Istio's sidecars offer for TCP): the ALPN is how
// each side knows the other will send a preamble, so plaintext connections, and TLS
// towards anything else, are never touched. Each side writes, before any payload:
//
//   magic 0x3D230467 (uint32, big-endian) · length (uint32, big-endian) ·
//   google.protobuf.Any{type_url: type.googleapis.com/google.protobuf.Struct,
//     value: Struct{"x-envoy-peer-metadata": {node metadata}, "x-envoy-peer-metadata-id": node id}}
//
// and strips the peer's preamble from what it reads before proxying the rest. The bytes
// are Istio's, so Skiff's proxy and Envoy with Istio's filters exchange with each other.
// A preamble that is not one (wrong magic) is left in the stream, as Envoy does.
import protobuf from "protobufjs";
import type { Socket } from "node:net";
import type { TLSSocket } from "node:tls";
import { PEER_METADATA_HEADER, PEER_METADATA_ID_HEADER, decodeStruct, encodeStruct } from "./telemetry-peer.ts";

/** The ALPN value that says "both sides run the TCP metadata exchange". */
export const PEER_EXCHANGE_ALPN = "istio-peer-exchange";
export const PEER_EXCHANGE_MAGIC = 0x3d230467;
const STRUCT_TYPE_URL = "type.googleapis.com/google.protobuf.Struct";
/** A preamble is a few hundred bytes; more than this is not one. */
const MAX_PREAMBLE_BYTES = 64 * 1024;
/**
 * How long to wait for the peer's preamble. The peer writes it first thing (Skiff) or on
 * its first read or write (Envoy, which our own preamble triggers), so this only bounds a
 * broken peer; on expiry the connection goes on with the peer unknown.
 */
const DEFAULT_READ_TIMEOUT_MS = 5000;

const AnyType = new protobuf.Type("Any").add(new protobuf.Field("type_url", 1, "string")).add(new protobuf.Field("value", 2, "bytes"));
new protobuf.Root().define("google.protobuf").add(AnyType);

/** The preamble this proxy writes: Istio's header around its node id and exchanged metadata. */
export function encodeExchange(nodeId: string, metadata: Record<string, unknown>): Buffer {
  const struct = encodeStruct({ [PEER_METADATA_HEADER]: metadata, ...(nodeId ? { [PEER_METADATA_ID_HEADER]: nodeId } : {}) });
  const any = AnyType.encode(AnyType.fromObject({ type_url: STRUCT_TYPE_URL, value: struct })).finish();
  const header = Buffer.alloc(8);
  header.writeUInt32BE(PEER_EXCHANGE_MAGIC, 0);
  header.writeUInt32BE(any.length, 4);
  return Buffer.concat([header, any]);
}

/** What a peer's preamble said; `key` identifies its content (for a decode cache). */
export interface ExchangedPeer {
  key: string;
  id: string;
  metadata: Record<string, unknown>;
}

/** Decodes the Any of a preamble; undefined when it does not hold Istio's Struct. */
export function decodeExchange(any: Uint8Array): ExchangedPeer | undefined {
  let msg: { type_url?: string; value?: Uint8Array };
  try {
    msg = AnyType.toObject(AnyType.decode(any), { bytes: Buffer }) as typeof msg;
  } catch {
    return undefined;
  }
  if (msg.type_url !== STRUCT_TYPE_URL || !msg.value) return undefined;
  const outer = decodeStruct(msg.value);
  const md = outer?.[PEER_METADATA_HEADER];
  if (!md || typeof md !== "object" || Array.isArray(md)) return undefined;
  const id = outer[PEER_METADATA_ID_HEADER];
  return { key: Buffer.from(msg.value).toString("base64"), id: typeof id === "string" ? id : "", metadata: md as Record<string, unknown> };
}

/** Whether a connection negotiated the exchange. */
export function negotiatedExchange(socket: Socket): boolean {
  return (socket as TLSSocket).alpnProtocol === PEER_EXCHANGE_ALPN;
}

/**
 * Reads the peer's preamble off `socket` and leaves the bytes after it (or, when what came
 * is not a preamble, everything read) in the socket for whoever reads next. The socket is
 * left paused; piping it resumes it. Resolves undefined when there is no valid preamble.
 */
export function readExchange(socket: Socket, timeoutMs = DEFAULT_READ_TIMEOUT_MS): Promise<ExchangedPeer | undefined> {
  return new Promise((resolve) => {
    let buffered: Buffer = Buffer.alloc(0);
    let settled = false;
    const finish = (peer: ExchangedPeer | undefined, rest: Buffer, ended = false): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.off("data", onData);
      socket.off("end", onEnd);
      socket.off("close", onEnd);
      socket.off("error", onEnd);
      socket.pause();
      // After 'end' a stream takes nothing back: a peer that closed mid-preamble loses those bytes.
      if (rest.length > 0 && !ended) socket.unshift(rest);
      resolve(peer);
    };
    const onData = (chunk: Buffer): void => {
      buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
      if (buffered.length >= 4 && buffered.readUInt32BE(0) !== PEER_EXCHANGE_MAGIC) return finish(undefined, buffered);
      if (buffered.length < 8) return;
      const size = buffered.readUInt32BE(4);
      if (size > MAX_PREAMBLE_BYTES) return finish(undefined, buffered);
      if (buffered.length < 8 + size) return;
      const peer = decodeExchange(buffered.subarray(8, 8 + size));
      // A well-framed preamble is consumed even when its content is not understood.
      finish(peer, buffered.subarray(8 + size));
    };
    const onEnd = (): void => finish(undefined, buffered, true);
    const timer = setTimeout(() => finish(undefined, buffered), timeoutMs);
    timer.unref();
    socket.on("data", onData);
    socket.once("end", onEnd);
    socket.once("close", onEnd);
    // A reset while waiting must not be an unhandled 'error' (tcpProxy's handlers come after).
    socket.once("error", onEnd);
  });
}
