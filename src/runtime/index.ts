// The runtime room's public face: `skiff up`'s local mesh (process mode), its run
// directory and state, and the local API that `skiff apply/delete/status/logs` use.
// Those commands import ./client.ts, the light half of this face (nothing heavy loaded).
export { LocalMesh, GATEWAY_NAME, GATEWAY_NAMESPACE, GATEWAY_LABELS, type LocalMeshOptions, type MeshStatus, type GatewayStatus, type ApplyOutcome } from "./mesh.ts";
export { MeshApiServer, type ChangeRequest, type Document } from "./api.ts";
export { callMesh } from "./client.ts";
export { runDir, logDir, stateFile, readState, writeState, removeState, runningMesh, processAlive, sweepStale, NoMeshError, type MeshState, type ProcessRecord } from "./run-dir.ts";
export { Backoff, type BackoffOptions } from "./backoff.ts";
export { PortAllocator, kernelFreePort } from "./ports.ts";
export { hostPortFor, mapGatewayPorts, withGatewayPorts, GATEWAY_HTTP_PORT_KEY } from "./gateway-ports.ts";
export { planReplica, assignPorts, portsNeeded, appMetricsOf, prometheusMetadata, PROMETHEUS_SCRAPE, PROMETHEUS_PORT, PROMETHEUS_PATH, type AppMetrics, workloadEntryFor, sidecarBootstrap, injectionEnabled, probePort, HEALTH_ANNOTATION, type ReplicaPlan, type ReplicaPorts, type AppPort } from "./plan.ts";
export type { ReplicaStatus } from "./replica.ts";
export { NetnsMode, NetnsModeError, NETNS_TAG_ENV, NETNS_SUBNET_ENV, netnsKey, type NetnsModeOptions } from "./netns-mode.ts";
export { traceStoreResources, TRACE_STORE_SERVICE, TRACE_STORE_ADDRESS, DEFAULT_TRACE_PORT } from "./trace-store-service.ts";
export { netnsSupport } from "./netns/index.ts";
export { planNetnsReplica, netnsAppPorts, netnsSidecarBootstrap, NETNS_ADMIN_PORT, NETNS_STATS_PORT, NETNS_MERGE_PORT, NETNS_FIRST_ASSIGNED_PORT } from "./netns-mode-plan.ts";
