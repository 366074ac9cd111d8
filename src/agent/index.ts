// The agent room's public face: what runs beside a proxy. For now the bootstrap
// (identity, admin, xDS address); the DNS proxy, traffic capture and certificates of
// netns mode and mTLS come later.
export { buildBootstrap, processSidecarMetadata, proxyNodeId, type BootstrapInput, type ProxyKind, type SidecarMetadataInput } from "./bootstrap.ts";
export { proxyCommand, PROXY_NODE_FLAGS } from "./launch.ts";
// Workload certificates: fetch from the mesh CA, rotate, describe (see docs/security-identity.md).
export { CertManager, systemClock, type CertManagerOptions, type CertificateSigner, type CertClock, type CertLogFn } from "./cert-manager.ts";
export { describe as describeSvid, svidTlsOptions, type Svid, type SecretDescription, type CertificateSummary } from "./cert-svid.ts";
// netns mode: traffic capture (iptables), service VIPs for sidecar-less workloads, the DNS proxy (see docs/netns-mode.md).
export { captureRules, captureRemovalRules, CAPTURE_DEFAULTS, CaptureOptionsError, type CaptureOptions } from "./capture.ts";
export { applyCapture, removeCapture, savedNatTable, CaptureError } from "./capture-apply.ts";
export { serviceRules, applyServiceRules, SERVICES_CHAIN, type ServiceVip } from "./capture-services.ts";
export { DnsProxy, DNS_PROXY_PORT, dnsNameTable, parseResolvConf, answerQuery, type DnsService, type DnsProxyOptions, type DnsUpstream } from "./dns-proxy.ts";
// The SDS side of mesh mTLS: the agent serves the workload's certificate to its proxy over a Unix socket (see docs/security-identity.md).
export { startSdsServer, secretResource, type SdsServerOptions, type RunningSdsServer, type SvidSource } from "./sds-server.ts";
export { startWorkloadAgent, agentSettingsFromEnv, agentEnvironment, parseCertTtl, AGENT_ENV, type WorkloadAgentOptions, type RunningWorkloadAgent } from "./sds-agent.ts";
