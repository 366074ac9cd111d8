// The registry room's public face: the pure builder, protocol selection, VIP allocation,
// the store-watching Registry, and the contract types.
export type { Protocol, ServicePort, Resolution, MeshService, Endpoint, RegistrySnapshot } from "./types.ts";
export { endpointKey } from "./types.ts";
export { buildRegistry, HEALTH_LABEL, TLS_MODE_LABEL, EXPORT_TO_ANNOTATION, WORKLOAD_NAME_LABEL, SKIFF_WORKLOAD_ANNOTATION, type BuildOptions } from "./build.ts";
export { parseProtocol, selectKubeProtocol, selectServiceEntryProtocol, type KubePortLike } from "./protocol.ts";
export { allocateVips } from "./vip.ts";
export { Registry, type RegistryOptions } from "./registry.ts";
