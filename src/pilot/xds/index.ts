// The xds room's public face: the ADS server, its monitoring endpoints, and the sync
// status shapes `skiff proxy-status` reads.
export { AdsServer, defaultLog, type AdsServerOptions, type SnapshotProvider, type TranslateFn } from "./server.ts";
export { MonitoringServer, type MonitoringOptions } from "./monitoring.ts";
export { XdsMetrics } from "./metrics.ts";
export { parseProxyNode, looksProxyless, NodeIdentityError, type XdsNode } from "./node.ts";
export type { LogFn, DiscoveryRequestJson } from "./connection.ts";
export type { ProxySyncStatus, TypeSyncStatus, SyncState, NackRecord, XdsShortName } from "./status.ts";
