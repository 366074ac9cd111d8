// The embedded trace store as a mesh service. `skiff up` runs the store inside its own
// process (beside the control plane, no process of its own) and registers it the way Istio's tracing addon is
// deployed: a Service `zipkin` in istio-system on port 9411, with one endpoint where the
// store really listens. WHY a service rather than a mesh-config address: Istio's default
// mesh config (enableTracing, tracer address zipkin.istio-system:9411) and the usual
// provider `zipkin.istio-system.svc.cluster.local:9411` then work unchanged, in process
// mode (endpoint 127.0.0.1:<port>) and netns mode (endpoint on the bridge) alike, and the
// proxies reach the collector through its service cluster like any other. Pure: no I/O.
import type { AnyResource } from "../api/index.ts";

export const TRACE_STORE_SERVICE = { name: "zipkin", namespace: "istio-system", port: 9411, portName: "http-query" } as const;
/** The Zipkin address Istio's default mesh config names (`defaultConfig.tracing.zipkin.address`). */
export const TRACE_STORE_ADDRESS = `${TRACE_STORE_SERVICE.name}.${TRACE_STORE_SERVICE.namespace}:${TRACE_STORE_SERVICE.port}`;
/** Istio's default zipkin port, `skiff up --trace-port`'s default. */
export const DEFAULT_TRACE_PORT = 9411;

const LABELS = { app: "zipkin", "skiff.dev/component": "trace-store" };

/** The Service and its WorkloadEntry for a store reachable by every proxy at address:port. */
export function traceStoreResources(address: string, port: number): AnyResource[] {
  const { name, namespace, portName } = TRACE_STORE_SERVICE;
  return [
    {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name, namespace, labels: { ...LABELS } },
      spec: { selector: { app: LABELS.app }, ports: [{ name: portName, port: TRACE_STORE_SERVICE.port, targetPort: portName, protocol: "TCP" }] },
    },
    {
      apiVersion: "networking.istio.io/v1",
      kind: "WorkloadEntry",
      // No security.istio.io/tlsMode label: the store has no sidecar, so proxies send it plaintext (auto mTLS).
      metadata: { name: "skiff-trace-store", namespace, labels: { ...LABELS } },
      spec: { address, ports: { [portName]: port }, labels: { ...LABELS }, serviceAccount: "zipkin" },
    },
  ] as AnyResource[];
}
