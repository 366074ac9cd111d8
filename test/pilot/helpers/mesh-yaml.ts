// The mesh-file documents the control-plane tests keep writing: a Service that selects its
// app, a WorkloadEntry, a DestinationRule with one subset per version label. Each returns
// one YAML document; join them with meshYaml. Tests that need anything else write it out.

/** A Service named after its app label, with one port. */
export function serviceYaml(o: { name: string; namespace: string; port: number; portName?: string; targetPort?: number }): string {
  const target = o.targetPort === undefined ? "" : `, targetPort: ${o.targetPort}`;
  return `apiVersion: v1
kind: Service
metadata: { name: ${o.name}, namespace: ${o.namespace} }
spec:
  selector: { app: ${o.name} }
  ports: [{ name: ${o.portName ?? "http"}, port: ${o.port}${target} }]
`;
}

/** A WorkloadEntry; `spec` is its spec as one flow mapping, e.g. `{ address: 10.0.0.1, labels: { app: a } }`. */
export function workloadEntryYaml(name: string, namespace: string, spec: string): string {
  return `apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: { name: ${name}, namespace: ${namespace} }
spec: ${spec}
`;
}

/** A DestinationRule (named after its host) with a subset per version: subset v1 is `version: v1`. */
export function versionSubsetsYaml(host: string, namespace: string, versions: string[]): string {
  return `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: ${host}, namespace: ${namespace} }
spec:
  host: ${host}
  subsets:
${versions.map((v) => `  - { name: ${v}, labels: { version: ${v} } }\n`).join("")}`;
}

/** Documents into one multi-document mesh file. */
export function meshYaml(...documents: string[]): string {
  return documents.join("---\n");
}
