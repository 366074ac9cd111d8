// Which AuthorizationPolicies reach a proxy: root namespace (mesh), own namespace,
// selector (also from the root namespace, across namespaces), targetRef Service/Gateway.
import { test } from "node:test";
import assert from "node:assert/strict";
import { selectPolicies } from "../../../../src/pilot/translate/security/selection.ts";
import { viewOf } from "./view.ts";

const ap = (name: string, ns: string, body = ""): string =>
  `---\napiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: ${name}, namespace: ${ns}}\nspec:\n  action: DENY\n${body}`;

const services = `apiVersion: v1
kind: Service
metadata: {name: reviews, namespace: bookinfo}
spec:
  selector: {app: reviews}
  ports:
  - {name: http, port: 9080}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: reviews-1, namespace: bookinfo}
spec:
  address: 10.0.0.5
  labels: {app: reviews}
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: ingress, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: ["*"]
`;

const policies =
  ap("mesh", "istio-system") +
  ap("root-selector", "istio-system", "  selector: {matchLabels: {app: reviews}}\n") +
  ap("ns", "bookinfo") +
  ap("other-ns", "default") +
  ap("selector", "bookinfo", "  selector: {matchLabels: {app: reviews}}\n") +
  ap("selector-miss", "bookinfo", "  selector: {matchLabels: {app: ratings}}\n") +
  ap("by-service", "bookinfo", "  targetRef: {kind: Service, group: '', name: reviews}\n") +
  ap("by-service-miss", "bookinfo", "  targetRef: {kind: Service, group: '', name: ratings}\n") +
  ap("by-gateway", "istio-system", "  targetRefs:\n  - {kind: Gateway, group: networking.istio.io, name: ingress}\n") +
  ap("gw-selector", "istio-system", "  selector: {matchLabels: {istio: ingressgateway}}\n");

const names = (list: { resource: { metadata: { name: string } }; scope: string }[]): string[] =>
  list.map((p) => `${p.resource.metadata.name}:${p.scope}`).sort();

test("a sidecar gets mesh, namespace, selector and Service-targeted policies", () => {
  const view = viewOf(services + policies, { namespace: "bookinfo", labels: { app: "reviews" } });
  assert.deepEqual(names(selectPolicies(view, "AuthorizationPolicy")), [
    "by-service:workload",
    "mesh:mesh",
    "ns:namespace",
    "root-selector:workload",
    "selector:workload",
  ]);
});

test("a router gets mesh, its namespace's, its selector's and Gateway-targeted policies", () => {
  const view = viewOf(services + policies, {
    type: "router",
    namespace: "istio-system",
    ipAddresses: ["10.0.0.50"],
    labels: { istio: "ingressgateway" },
  });
  // In the root namespace, mesh-wide policies are also the namespace's own.
  assert.deepEqual(names(selectPolicies(view, "AuthorizationPolicy")), [
    "by-gateway:workload",
    "gw-selector:workload",
    "mesh:namespace",
  ]);
});
