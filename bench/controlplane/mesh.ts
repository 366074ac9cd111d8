// Generates a big mesh as Istio YAML: N Services in one namespace, M WorkloadEntries
// spread over them (versions v1/v2), and on a share of the services a DestinationRule
// with subsets and a VirtualService splitting traffic 90/10. No Sidecar resources: every
// proxy sees every service, Istio's default and the heavy case.

export const NAMESPACE = "bench";
export const PORT = 9080;

export interface MeshSpec {
  services: number;
  workloads: number;
  /** Share of services with a VirtualService and a DestinationRule (0..1). */
  routedShare: number;
}

export interface Workload {
  name: string;
  address: string;
  service: number;
  version: string;
}

export function workloads(spec: MeshSpec): Workload[] {
  const out: Workload[] = [];
  for (let j = 0; j < spec.workloads; j++) {
    const service = j % spec.services;
    const version = Math.floor(j / spec.services) % 2 === 0 ? "v1" : "v2";
    // 10.x.y.z addresses: configuration only, nothing ever connects to them.
    const n = j + 1;
    out.push({ name: `svc-${service}-${version}-${j}`, address: `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`, service, version });
  }
  return out;
}

export function routedServices(spec: MeshSpec): number[] {
  const count = Math.max(1, Math.round(spec.services * spec.routedShare));
  return Array.from({ length: count }, (_, i) => i);
}

/** Services, WorkloadEntries and DestinationRules (the part that does not change). */
export function baseYaml(spec: MeshSpec): string {
  const docs: string[] = [`apiVersion: v1\nkind: Namespace\nmetadata: {name: ${NAMESPACE}, labels: {istio-injection: enabled}}`];
  for (let i = 0; i < spec.services; i++) {
    docs.push(`apiVersion: v1\nkind: Service\nmetadata: {name: svc-${i}, namespace: ${NAMESPACE}}\nspec:\n  selector: {app: svc-${i}}\n  ports:\n  - {name: http, port: ${PORT}, targetPort: ${PORT}}`);
  }
  for (const w of workloads(spec)) {
    docs.push(
      `apiVersion: networking.istio.io/v1\nkind: WorkloadEntry\nmetadata: {name: ${w.name}, namespace: ${NAMESPACE}}\nspec:\n  address: ${w.address}\n  ports: {http: ${PORT}}\n  labels: {app: svc-${w.service}, version: ${w.version}}\n  serviceAccount: svc-${w.service}`,
    );
  }
  for (const i of routedServices(spec)) {
    docs.push(
      `apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: svc-${i}, namespace: ${NAMESPACE}}\nspec:\n  host: svc-${i}\n  subsets:\n  - {name: v1, labels: {version: v1}}\n  - {name: v2, labels: {version: v2}}`,
    );
  }
  return docs.join("\n---\n") + "\n";
}

export function virtualServiceYaml(i: number, v1Weight: number): string {
  return `apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: svc-${i}, namespace: ${NAMESPACE}}\nspec:\n  hosts: [svc-${i}]\n  http:\n  - route:\n    - {destination: {host: svc-${i}, subset: v1}, weight: ${v1Weight}}\n    - {destination: {host: svc-${i}, subset: v2}, weight: ${100 - v1Weight}}\n`;
}

/** VirtualServices of all routed services but the first (which the benchmark edits). */
export function otherVirtualServicesYaml(spec: MeshSpec): string {
  return routedServices(spec)
    .slice(1)
    .map((i) => virtualServiceYaml(i, 90))
    .join("---\n");
}

/** Istio's sidecar node id and metadata for a workload (capture mode, as on Kubernetes). */
export function sidecarNode(w: Workload): Record<string, unknown> {
  return {
    id: `sidecar~${w.address}~${w.name}.${NAMESPACE}~${NAMESPACE}.svc.cluster.local`,
    cluster: `svc-${w.service}.${NAMESPACE}`,
    user_agent_name: "skiff-bench",
    metadata: {
      NAMESPACE,
      INSTANCE_IPS: w.address,
      LABELS: { app: `svc-${w.service}`, version: w.version },
      SERVICE_ACCOUNT: `svc-${w.service}`,
      WORKLOAD_NAME: `svc-${w.service}-${w.version}`,
    },
  };
}
