// Builds a ProxyView from YAML for the security unit tests (as the golden harness does).
import assert from "node:assert/strict";
import { loadText } from "../../../../src/api/index.ts";
import { buildRegistry } from "../../../../src/registry/build.ts";
import { buildPushContext, defaultMeshConfig, proxyView } from "../../../../src/pilot/translate/index.ts";
import type { MeshConfig, ProxyNode, ProxyView } from "../../../../src/pilot/translate/index.ts";

export function viewOf(yaml: string, proxy: Partial<ProxyNode> = {}, mesh: Partial<MeshConfig> = {}): ProxyView {
  const { resources, diagnostics } = loadText(yaml, "test.yaml");
  assert.deepEqual(diagnostics.filter((d) => d.severity === "error"), []);
  for (const r of resources) if (!r.metadata.namespace) r.metadata.namespace = "default";
  const meshConfig = { ...defaultMeshConfig, ...mesh };
  const snapshot = { config: resources, registry: buildRegistry(resources, { domain: meshConfig.domain, version: 1 }), mesh: meshConfig, version: 1 };
  const namespace = proxy.namespace ?? "default";
  const ip = proxy.ipAddresses?.[0] ?? "10.0.0.5";
  const node: ProxyNode = {
    id: `sidecar~${ip}~w.${namespace}~${namespace}.svc.cluster.local`,
    type: "sidecar",
    ipAddresses: [ip],
    podName: `w.${namespace}`,
    namespace,
    labels: {},
    serviceAccount: "default",
    workloadName: "w",
    metadata: {},
    ...proxy,
  };
  return proxyView(buildPushContext(snapshot), node);
}

/** A PeerAuthentication document. */
export function pa(name: string, namespace: string, spec: string): string {
  return `---\napiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: ${name}, namespace: ${namespace}}\nspec:\n${spec}\n`;
}
