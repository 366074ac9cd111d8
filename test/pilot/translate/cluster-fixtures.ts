// Small builders of snapshots and proxies for the push-context, cluster and endpoint
// unit tests: just enough registry and config to exercise one rule at a time.
import type { AnyResource } from "../../../src/api/types.ts";
import type { Endpoint, MeshService, ServicePort } from "../../../src/registry/types.ts";
import { endpointKey } from "../../../src/registry/types.ts";
import type { MeshSnapshot, ProxyNode } from "../../../src/pilot/translate/types.ts";
import { defaultMeshConfig } from "../../../src/pilot/translate/types.ts";

export function kubeService(name: string, namespace: string, ports: ServicePort[], extra: Partial<MeshService> = {}): MeshService {
  return {
    hostname: `${name}.${namespace}.svc.cluster.local`,
    name,
    namespace,
    addresses: [],
    ports,
    resolution: "ClientSideLB",
    meshExternal: false,
    labels: {},
    exportTo: ["*"],
    origin: `Service/${namespace}/${name}`,
    serviceAccounts: [],
    ...extra,
  };
}

export function http(port: number, name = `http-${port}`): ServicePort {
  return { name, port, protocol: "HTTP" };
}

export function endpoint(svc: MeshService, port: number, address: string, extra: Partial<Endpoint> = {}): Endpoint {
  const sp = svc.ports.find((p) => p.port === port);
  return {
    hostname: svc.hostname,
    servicePort: port,
    servicePortName: sp?.name ?? "",
    address,
    port: typeof sp?.targetPort === "number" ? sp.targetPort : port,
    labels: {},
    namespace: svc.namespace,
    serviceAccount: "default",
    workloadName: `${svc.name}-${address}`,
    locality: "",
    weight: 1,
    healthy: true,
    tlsMode: "istio",
    ...extra,
  };
}

export function snapshot(services: MeshService[], endpoints: Endpoint[] = [], config: AnyResource[] = [], mesh = {}): MeshSnapshot {
  const map = new Map<string, Endpoint[]>();
  for (const ep of endpoints) {
    const k = endpointKey(ep.hostname, ep.servicePort);
    map.set(k, [...(map.get(k) ?? []), ep]);
  }
  return {
    config,
    registry: { services: [...services].sort((a, b) => (a.hostname < b.hostname ? -1 : 1)), endpoints: map, version: 1 },
    mesh: { ...defaultMeshConfig, ...mesh },
    version: 1,
  };
}

/** A config object of any kind, namespaced, with an optional creation time to order it. */
export function res(kind: string, namespace: string, name: string, spec: unknown, creationTimestamp?: string): AnyResource {
  return {
    apiVersion: kind === "Service" ? "v1" : "networking.istio.io/v1",
    kind,
    metadata: { name, namespace, ...(creationTimestamp ? { creationTimestamp } : {}) },
    spec,
  } as AnyResource;
}

export function sidecarProxy(namespace: string, labels: Record<string, string> = {}, ip = "10.0.0.99"): ProxyNode {
  return {
    id: `sidecar~${ip}~pod.${namespace}~${namespace}.svc.cluster.local`,
    type: "sidecar",
    ipAddresses: [ip],
    podName: `pod.${namespace}`,
    namespace,
    labels,
    serviceAccount: "default",
    workloadName: "pod",
    metadata: {},
  };
}
