// The span model shared by the proxy's tracing filter, the exporters and the trace
// store. Times are microseconds since the epoch, as Zipkin counts them.

import { randomFillSync, randomUUID } from "node:crypto";

export type SpanKind = "CLIENT" | "SERVER" | "PRODUCER" | "CONSUMER";

export interface Endpoint {
  serviceName?: string;
  ipv4?: string;
  ipv6?: string;
  port?: number;
}

export interface Annotation {
  timestamp: number;
  value: string;
}

export interface Span {
  /** 32 lower-case hex digits (128 bits). */
  traceId: string;
  /** 16 lower-case hex digits (64 bits). */
  id: string;
  parentId?: string;
  name: string;
  kind?: SpanKind;
  /** Start, microseconds since the epoch. */
  timestamp: number;
  /** Microseconds. */
  duration: number;
  localEndpoint?: Endpoint;
  remoteEndpoint?: Endpoint;
  tags: Record<string, string>;
  annotations?: Annotation[];
  /** Zipkin's flag for a server span that reuses its client's id. */
  shared?: boolean;
}

// Random ids come from a pooled buffer: one crypto call per 512 ids instead of one
// per span, which matters on the request path.
const pool = Buffer.alloc(4096);
let offset = pool.length;

function randomHex(bytes: number): string {
  if (offset + bytes > pool.length) {
    randomFillSync(pool);
    offset = 0;
  }
  let s = pool.toString("hex", offset, offset + bytes);
  offset += bytes;
  // An all-zero id is invalid in every propagation format; vanishingly unlikely,
  // but cheap to rule out.
  if (/^0+$/.test(s)) s = s.slice(0, -1) + "1";
  return s;
}

export const newTraceId = (): string => randomHex(16);
export const newSpanId = (): string => randomHex(8);
/** A fresh x-request-id, a UUID v4 as Envoy generates. */
export const newRequestId = (): string => randomUUID();

/** Microseconds since the epoch, with sub-millisecond precision from the monotonic clock. */
const originMs = Date.now();
const originHr = process.hrtime.bigint();
export function nowMicros(): number {
  return originMs * 1000 + Number((process.hrtime.bigint() - originHr) / 1000n);
}

export const HEX32 = /^[0-9a-f]{32}$/;
export const HEX16 = /^[0-9a-f]{16}$/;
