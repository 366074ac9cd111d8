// The tcp_proxy network filter's upstream side: pick a host of the cluster, connect
// (counted against max_connections), pipe bytes both ways until either side closes or
// the connection is idle for idle_timeout. PassthroughCluster (ORIGINAL_DST) connects to
// ctx.originalDestination; BlackHoleCluster (a STATIC cluster without endpoints) has no
// host, so the connection is closed with flag UH, as in Envoy.
import type { Socket } from "node:net";
import { ClusterImpl } from "./cluster.ts";
import type { HostImpl } from "./host.ts";
import { connectedSockets, openConnection } from "./pool.ts";
import type { LbContext, TcpProxyOptions, TcpProxySessionInfo, UpstreamCluster } from "./types.ts";

/** Envoy's tcp_proxy default idle timeout: one hour. */
const DEFAULT_IDLE_TIMEOUT_MS = 3600_000;

/**
 * Proxy `downstream` to a host of `cluster`. An undefined cluster (unknown name) closes the
 * connection with flag NC. `opts.onClose` receives the session summary for access logs.
 */
export function tcpProxy(downstream: Socket, cluster: UpstreamCluster | undefined, ctx: LbContext, opts: TcpProxyOptions = {}): void {
  const info: TcpProxySessionInfo = { responseFlags: [], bytesReceived: 0, bytesSent: 0, reason: "" };
  const sockets: { upstream?: Socket } = {};
  let ended = false;
  const end = (reason: string, flag?: string) => {
    if (ended) return;
    ended = true;
    info.reason = reason;
    if (flag) info.responseFlags.push(flag);
    info.bytesReceived = downstream.bytesRead;
    info.bytesSent = downstream.bytesWritten;
    downstream.destroy();
    sockets.upstream?.destroy();
    opts.onClose?.(info);
  };
  downstream.on("error", () => end("downstream_close"));

  if (!cluster) return end("no_cluster", "NC");
  if (!(cluster instanceof ClusterImpl)) throw new Error("tcpProxy needs a cluster from this ClusterManager");
  const host = cluster.selectHost(ctx) as HostImpl | null;
  if (!host) {
    cluster.stats.upstream_cx_none_healthy++;
    return end("no_host", "UH");
  }
  info.host = host;
  if (!cluster.breaker.canConnect()) {
    cluster.stats.upstream_cx_overflow++;
    return end("overflow", "UO");
  }
  const up = openConnection(host, cluster, () => {}, opts.connectTimeoutMs ?? cluster.connectTimeoutMs);
  sockets.upstream = up;
  up.on("error", () => {
    if (!connectedSockets.has(up)) {
      cluster.reportOutcome(host, { localFailure: "connect" });
      end("connect_failure", "UF");
    } else {
      end("upstream_close");
    }
  });
  up.on("connect", () => cluster.reportOutcome(host, { status: 200 }));
  const exchange = opts.upstreamExchange;
  if (!exchange) {
    // Bytes from the client are buffered by the socket until the upstream connects.
    downstream.pipe(up);
    up.pipe(downstream);
  } else {
    // The exchange writes its preamble before the client's bytes, and reads the upstream's
    // off the socket before the upstream's bytes go to the client.
    up.once(host.tls ? "secureConnect" : "connect", () => {
      const done = exchange(up);
      downstream.pipe(up);
      void done.then(() => {
        if (!ended) up.pipe(downstream);
      });
    });
  }
  up.on("close", () => end("upstream_close"));
  downstream.on("close", () => end("downstream_close"));
  const idle = opts.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
  if (idle > 0) {
    // Socket timeouts count reads and writes, and every byte proxied is read on one socket and
    // written on the other, so "both sockets idle" is Envoy's "no bytes either way".
    const onIdle = () => end("idle_timeout");
    downstream.setTimeout(idle, onIdle);
    up.setTimeout(idle, onIdle);
  }
}
