// What a per-host connection pool needs from its cluster, and helpers shared by the
// HTTP/1.1 and HTTP/2 pools.
import net from "node:net";
import tls from "node:tls";
import { tlsConnectOptions } from "./tls.ts";
import type { SecretLookup } from "./tls.ts";
import type { CircuitBreaker } from "./circuit-breaker.ts";
import type { SourceAddress } from "./config.ts";
import type { HostImpl } from "./host.ts";
import type { ClusterStats, UpstreamHttpRequest, UpstreamHttpResult } from "./types.ts";

export interface PoolOwner {
  readonly breaker: CircuitBreaker;
  readonly stats: ClusterStats;
  readonly connectTimeoutMs: number;
  readonly idleTimeoutMs: number;
  /** 0 = unlimited. */
  readonly maxRequestsPerConnection: number;
  /** 0 = unlimited: connections are drained (closed once idle) after this long. */
  readonly maxConnectionDurationMs: number;
  /** HTTP/2 streams per connection before another connection is opened; 0 = unlimited. */
  readonly maxConcurrentStreams: number;
  /** SDS secrets for TLS origination. */
  readonly secrets?: SecretLookup;
  /** upstream_bind_config.source_address: where upstream connections leave from (unset: the OS picks). */
  readonly sourceAddress?: SourceAddress;
  /** A connection closed or a request finished somewhere in the cluster: pending requests may proceed. */
  capacityFreed(): void;
}

export interface ConnectionPool {
  /**
   * Send a request; `done` is called exactly once when the request is over (body ended,
   * failed, aborted or upgraded) so the cluster can release its max_requests slot.
   */
  request(req: UpstreamHttpRequest, done: () => void): Promise<UpstreamHttpResult>;
  /** Fail queued requests with a connect failure (the host left the cluster). */
  failPending(): void;
  /** Try to start queued requests (capacity may have been freed elsewhere in the cluster). */
  drainQueue(): void;
  /** Close idle connections now and the rest when their requests finish (`force`: all now). */
  close(force?: boolean): void;
  readonly activeConnections: number;
}

/** Marks a socket as established so errors can be told apart: connect failure vs reset. */
export const connectedSockets = new WeakSet<net.Socket>();

/**
 * Open a TCP connection to `host`, counted against the cluster's connections and its
 * stats, failing with a connect timeout after `owner.connectTimeoutMs`.
 */
export function openConnection(host: HostImpl, owner: PoolOwner, onClose: () => void, connectTimeoutMs = owner.connectTimeoutMs, h2 = false): net.Socket {
  let socket: net.Socket;
  let setupError: Error | undefined;
  const bind = bindOptions(owner.sourceAddress);
  if (host.tls) {
    try {
      socket = tls.connect({ host: host.address, port: host.port, ...bind, ...tlsConnectOptions(host.tls, owner.secrets, h2) });
    } catch (e) {
      // E.g. an SDS secret that has not arrived: fail like a connection that never came up.
      setupError = e as Error;
      socket = new net.Socket();
    }
  } else {
    socket = net.connect({ host: host.address, port: host.port, ...bind });
  }
  socket.setNoDelay(true);
  if (setupError) {
    const err = setupError;
    process.nextTick(() => socket.destroy(err));
  }
  owner.breaker.connections++;
  owner.stats.upstream_cx_total++;
  owner.stats.upstream_cx_active++;
  host.stats.cx_total++;
  host.stats.cx_active++;
  const timer = setTimeout(() => {
    socket.destroy(Object.assign(new Error(`connect timeout after ${connectTimeoutMs} ms to ${host.key}`), { code: "ETIMEDOUT" }));
  }, connectTimeoutMs);
  timer.unref();
  // A TLS connection is up only after its handshake (a failed handshake is a connect failure, UF).
  socket.once(host.tls ? "secureConnect" : "connect", () => {
    clearTimeout(timer);
    connectedSockets.add(socket);
  });
  // Counted on the error itself (before 'close') so that callers who see the failure also
  // see the counter.
  socket.once("error", () => {
    if (!connectedSockets.has(socket)) {
      owner.stats.upstream_cx_connect_fail++;
      host.stats.cx_connect_fail++;
    }
  });
  socket.once("close", () => {
    clearTimeout(timer);
    owner.breaker.connections--;
    owner.stats.upstream_cx_active--;
    owner.stats.upstream_cx_destroy++;
    owner.stats.upstream_cx_rx_bytes_total += socket.bytesRead;
    owner.stats.upstream_cx_tx_bytes_total += socket.bytesWritten;
    host.stats.cx_active--;
    onClose();
    owner.capacityFreed();
  });
  return socket;
}

/** net/tls connect options for a bound source; port 0 leaves the port to the OS. */
function bindOptions(source: SourceAddress | undefined): { localAddress?: string; localPort?: number } {
  if (!source) return {};
  return source.port > 0 ? { localAddress: source.address, localPort: source.port } : { localAddress: source.address };
}

/** Hop-by-hop headers that must not be forwarded (and that HTTP/2 forbids). */
export const HOP_BY_HOP = new Set(["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te", "host", "http2-settings"]);
