// The service registry's model: what services exist, on which ports and protocols,
// and which endpoints (workload instances) back them. Built from Kubernetes-shaped
// Services, ServiceEntries and WorkloadEntries; knows nothing of Envoy.

/** Istio's protocol names, as selected from port name prefix or appProtocol. */
export type Protocol =
  | "HTTP"
  | "HTTP2"
  | "GRPC"
  | "GRPC-Web"
  | "HTTPS"
  | "TCP"
  | "TLS"
  | "Mongo"
  | "Redis"
  | "MySQL"
  | "UDP"
  /** Unknown: the proxy sniffs HTTP vs TCP. */
  | "Unsupported";

export interface ServicePort {
  name: string;
  port: number;
  protocol: Protocol;
  /** Numeric target port, or a workload port name, as the Service said. */
  targetPort?: number | string;
}

export type Resolution = "ClientSideLB" | "Passthrough" | "DNSLB" | "DNSRoundRobinLB";

export interface MeshService {
  /** Fully qualified host: `name.namespace.svc.cluster.local` or a ServiceEntry host. */
  hostname: string;
  /** Short name (Kubernetes Service name, or the ServiceEntry host). */
  name: string;
  namespace: string;
  /** Virtual IPs (cluster IPs, ServiceEntry addresses); may be empty. */
  addresses: string[];
  ports: ServicePort[];
  resolution: Resolution;
  meshExternal: boolean;
  labels: Record<string, string>;
  /** Namespaces this service is visible to (`*` = all, `.` resolved to own namespace). */
  exportTo: string[];
  /** Where it came from, e.g. `Service/demo/sa-logic` or `ServiceEntry/default/ext`. */
  origin: string;
  /** Service accounts of its workloads (SPIFFE names are formed by the translator). */
  serviceAccounts: string[];
}

export interface Endpoint {
  /** Host of the service this endpoint backs, and the service port it serves. */
  hostname: string;
  servicePort: number;
  servicePortName: string;
  address: string;
  /** The port to reach the workload at (the target port resolved). */
  port: number;
  labels: Record<string, string>;
  namespace: string;
  serviceAccount: string;
  /** Workload name (e.g. WorkloadEntry name or `skiff up` workload) for telemetry. */
  workloadName: string;
  /** `region/zone/subzone`, possibly empty. */
  locality: string;
  weight: number;
  healthy: boolean;
  /** "istio" when the endpoint has a sidecar that accepts mesh mTLS, else "disabled". */
  tlsMode: "istio" | "disabled";
  network?: string;
}

/** An immutable view of the registry at one moment. */
export interface RegistrySnapshot {
  /** Sorted by hostname then namespace. */
  services: readonly MeshService[];
  /** Endpoints of a service port, keyed `hostname|port`; sorted by address then port. */
  endpoints: ReadonlyMap<string, readonly Endpoint[]>;
  version: number;
}

export function endpointKey(hostname: string, port: number): string {
  return `${hostname}|${port}`;
}
