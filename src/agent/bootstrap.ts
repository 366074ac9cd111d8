// Proxy bootstrap generation: what pilot-agent does for Envoy in Istio, here for
// Skiff's proxy. The bootstrap carries only identity (node id and metadata), where the
// admin endpoint listens and where the control plane is; everything else reaches the
// proxy over xDS.

export type ProxyKind = "sidecar" | "router";

/** Istio's node id: `sidecar~10.0.0.1~reviews-v1-0.default~default.svc.cluster.local`. */
export function proxyNodeId(kind: ProxyKind, address: string, name: string, namespace: string, domain = "cluster.local"): string {
  return `${kind}~${address}~${name}.${namespace}~${namespace}.svc.${domain}`;
}

export interface BootstrapInput {
  kind: ProxyKind;
  /** The proxy's pod-like name (a replica, `sa-logic-v1-0`, or `istio-ingressgateway`). */
  name: string;
  namespace: string;
  address: string;
  domain?: string;
  /** `host:port` of the ADS server. */
  xdsAddress: string;
  adminPort: number;
  /** Istio NodeMetadata fields (LABELS, NAMESPACE, SERVICE_ACCOUNT, ...). */
  metadata: Record<string, unknown>;
}

/** The bootstrap document `skiff proxy --bootstrap FILE` reads (see src/proxy/bootstrap.ts). */
export function buildBootstrap(input: BootstrapInput): Record<string, unknown> {
  const id = proxyNodeId(input.kind, input.address, input.name, input.namespace, input.domain);
  return {
    node: {
      id,
      // Istio's service-cluster convention: `<workload>.<namespace>`.
      cluster: `${input.name}.${input.namespace}`,
      metadata: { NAMESPACE: input.namespace, INSTANCE_IPS: input.address, ...input.metadata },
    },
    admin: { address: { socket_address: { address: "127.0.0.1", port_value: input.adminPort } } },
    xds_address: input.xdsAddress,
  };
}

export interface SidecarMetadataInput {
  labels: Record<string, string>;
  namespace: string;
  serviceAccount: string;
  workloadName: string;
  /** The sidecar's outbound HTTP proxy port (the app's HTTP_PROXY). */
  httpProxyPort: number;
  /** Inbound port the sidecar listens on → the app port it forwards to. */
  appPorts: Record<number, number>;
}

/**
 * Node metadata of a process-mode sidecar: nothing is captured (INTERCEPTION_MODE NONE),
 * the app reaches the mesh through an HTTP proxy listener, and inbound traffic arrives
 * on the endpoint's port and is forwarded to the app's own port (APP_PORTS).
 */
export function processSidecarMetadata(input: SidecarMetadataInput): Record<string, unknown> {
  return {
    LABELS: input.labels,
    NAMESPACE: input.namespace,
    SERVICE_ACCOUNT: input.serviceAccount,
    WORKLOAD_NAME: input.workloadName,
    INTERCEPTION_MODE: "NONE",
    HTTP_PROXY_PORT: String(input.httpProxyPort),
    APP_ADDRESS: "127.0.0.1",
    APP_PORTS: Object.fromEntries(Object.entries(input.appPorts).map(([k, v]) => [k, v])),
  };
}
