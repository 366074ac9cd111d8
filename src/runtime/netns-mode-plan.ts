// Pure planning for netns mode: what a replica runs and how its sidecar is told about
// capture. Each replica has a network namespace of its own (like a pod), so the app
// listens on its containerPort and the sidecar on Istio's standard ports; nothing needs
// a host-wide port allocator. No I/O here.
import type { Resource } from "../api/index.ts";
import { buildBootstrap } from "../agent/index.ts";
import { planReplica, prometheusMetadata, type ReplicaPlan } from "./plan.ts";

/** The sidecar's admin port inside the replica's namespace (Istio's). */
export const NETNS_ADMIN_PORT = 15000;
/** Istio's Prometheus ports: proxy stats (15090) and the merged app + proxy metrics (15020), on the replica's own address. */
export const NETNS_STATS_PORT = 15090;
export const NETNS_MERGE_PORT = 15020;

/**
 * First port given to a Workload port declared with containerPort 0 ("any"): inside its
 * own namespace any port is free, so a fixed, predictable one (8080, 8081, ...) beats a
 * random one; it stays clear of the proxy's 15000-15090.
 */
export const NETNS_FIRST_ASSIGNED_PORT = 8080;

/** The ports the app listens on: its containerPorts, and for 0 the next unused port from 8080. */
export function netnsAppPorts(workload: Resource<"Workload">): number[] {
  const declared = workload.spec.ports?.length ? workload.spec.ports.map((p) => p.containerPort) : [0];
  const used = new Set(declared.filter((p) => p !== 0));
  let next = NETNS_FIRST_ASSIGNED_PORT;
  return declared.map((p) => {
    if (p !== 0) return p;
    while (used.has(next)) next++;
    used.add(next);
    return next;
  });
}

/**
 * A replica in its own namespace: the app gets PORT (no HTTP_PROXY: capture sends its
 * traffic through the sidecar), the WorkloadEntry points at the namespace's address and
 * the app's real ports (inbound capture takes them to 15006).
 */
export function planNetnsReplica(workload: Resource<"Workload">, index: number, sidecar: boolean, base: string, address: string): ReplicaPlan {
  const plan = planReplica(workload, index, { app: netnsAppPorts(workload) }, base);
  plan.address = address;
  // httpProxyPort 0: there is no HTTP proxy listener in capture mode.
  if (sidecar) plan.sidecar = { httpProxyPort: 0, adminPort: NETNS_ADMIN_PORT, statsPort: NETNS_STATS_PORT, mergePort: NETNS_MERGE_PORT };
  return plan;
}

/**
 * The sidecar's bootstrap in capture mode: no INTERCEPTION_MODE NONE (so the translator
 * emits virtualOutbound 15001 and virtualInbound 15006), INSTANCE_IPS the namespace's
 * address, the app on 127.0.0.1 at the same ports (no APP_PORTS). Admin listens on the
 * replica's address (15000 is exempt from inbound capture) so the runtime on the host
 * can probe /ready; xDS is reached through the bridge.
 */
export function netnsSidecarBootstrap(plan: ReplicaPlan, xdsAddress: string, domain = "cluster.local"): Record<string, unknown> {
  if (!plan.sidecar || !plan.address) throw new Error(`${plan.name} has no sidecar or no address`);
  const bootstrap = buildBootstrap({
    kind: "sidecar",
    name: plan.name,
    namespace: plan.namespace,
    address: plan.address,
    domain,
    xdsAddress,
    adminPort: plan.sidecar.adminPort,
    metadata: {
      LABELS: plan.labels,
      NAMESPACE: plan.namespace,
      SERVICE_ACCOUNT: plan.serviceAccount,
      WORKLOAD_NAME: plan.workload,
      APP_ADDRESS: "127.0.0.1",
      ...prometheusMetadata(plan),
    },
  });
  bootstrap.admin = { address: { socket_address: { address: plan.address, port_value: plan.sidecar.adminPort } } };
  return bootstrap;
}
