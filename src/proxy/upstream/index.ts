// Public face of the proxy's upstream half: clusters, load balancing, connection pools,
// circuit breakers, outlier detection and TCP proxying. See ./types.ts for the contract and
// docs/proxy-upstream.md for the semantics implemented.
export type * from "./types.ts";
export { GAUGE_STATS } from "./types.ts";
export { ClusterManager } from "./cluster-manager.ts";
export { tcpProxy } from "./tcp-proxy.ts";
export { hashKey, hashBytes, combineHashes } from "./hash.ts";
export { prometheusStats } from "./stats.ts";
export { parseUpstreamTls, peerSans, sanMatches, SAN_TYPES, type TlsSpec, type SanMatcher } from "./tls.ts";
