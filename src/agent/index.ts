// The agent room's public face: what runs beside a proxy. For now the bootstrap
// (identity, admin, xDS address); the DNS proxy, traffic capture and certificates of
// netns mode and mTLS come later.
export { buildBootstrap, processSidecarMetadata, proxyNodeId, type BootstrapInput, type ProxyKind, type SidecarMetadataInput } from "./bootstrap.ts";
export { proxyCommand } from "./launch.ts";
