// Pieces the netns-mode e2e tests share.

/**
 * A legacy workload for `skiff up -f`: namespace `legacy` without injection, so no sidecar and
 * no mesh identity, running a tiny HTTP server (so it has a port to be ready on) that answers
 * "legacy". Its traffic goes through DNS, the VIP rules and the callee's inbound capture.
 */
export const LEGACY_MESH = `apiVersion: v1
kind: Namespace
metadata: { name: legacy }
---
apiVersion: skiff.dev/v1alpha1
kind: Workload
metadata: { name: legacy-client, namespace: legacy }
spec:
  command: [${JSON.stringify(process.execPath)}, "-e", "require('node:http').createServer((q, s) => s.end('legacy')).listen(Number(process.env.PORT))"]
  ports: [{ name: http, containerPort: 0 }]
  labels: { app: legacy-client }
`;
