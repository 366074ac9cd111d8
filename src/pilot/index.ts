// The pilot room's public face: the control plane (config + registry + translation +
// ADS + monitoring), and the pieces it is made of for those who wire their own.
export { ControlPlane, type ControlPlaneOptions } from "./control-plane.ts";
export { translate } from "./translate/index.ts";
export type { MeshConfig } from "./translate/index.ts";
export { parseMeshConfig, loadMeshConfigFile, formatMeshConfigError, MeshConfigLoadError, type MeshConfigError } from "./mesh-config.ts";
export {
  AdsServer,
  MonitoringServer,
  XdsMetrics,
  parseProxyNode,
  type AdsServerOptions,
  type SnapshotProvider,
  type TranslateFn,
  type LogFn,
  type ProxySyncStatus,
  type TypeSyncStatus,
  type SyncState,
  type NackRecord,
} from "./xds/index.ts";
