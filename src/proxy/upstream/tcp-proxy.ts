// Placeholder until the implementation lands; the interface is in ./types.ts.
import type { Socket } from "node:net";
import type { LbContext, TcpProxyOptions, UpstreamCluster } from "./types.ts";

/** Proxy a downstream TCP connection to a host of `cluster` (undefined cluster → close, flag NC). */
export function tcpProxy(downstream: Socket, _cluster: UpstreamCluster | undefined, _ctx: LbContext, _opts: TcpProxyOptions = {}): void {
  downstream.destroy();
}
