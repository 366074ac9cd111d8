// Pure planning: from a Workload object, the namespace's injection setting and the
// ports the runtime allocated, what to run for one replica (command, working directory,
// environment, sidecar metadata) and how to register it (a WorkloadEntry). No I/O here.
import { dirname, isAbsolute, resolve } from "node:path";
import type { AnyResource, Resource } from "../api/index.ts";
import { buildBootstrap, processSidecarMetadata } from "../agent/index.ts";

export const HEALTH_ANNOTATION = "skiff.dev/health";
export const TLS_MODE_LABEL = "security.istio.io/tlsMode";

export interface AppPort {
  /** The workload port's name (Service targetPorts refer to it), if named. */
  name?: string;
  /** What the Workload said (the port inside a pod; informative in process mode). */
  containerPort: number;
  /** The port the app is told to listen on (PORT). */
  port: number;
  /** With a sidecar: the port the sidecar listens on for this app port (the endpoint's port). */
  inboundPort?: number;
}

export interface ReplicaPorts {
  app: number[];
  /**
   * With a sidecar: one inbound port per app port, the HTTP proxy port, the admin port,
   * and the two Prometheus ports Istio fixes at 15090 (stats) and 15020 (merged app +
   * proxy metrics), which replicas sharing the host's loopback cannot all have.
   */
  sidecar?: { inbound: number[]; httpProxy: number; admin: number; stats: number; merge: number };
}

/** Istio's pod annotations for Prometheus (the app's own metrics, merged into 15020). */
export const PROMETHEUS_SCRAPE = "prometheus.io/scrape";
export const PROMETHEUS_PORT = "prometheus.io/port";
export const PROMETHEUS_PATH = "prometheus.io/path";

/** The app's metrics endpoint the sidecar merges into its 15020 scrape (from the annotations). */
export interface AppMetrics {
  /** The port the app really listens on. */
  port: number;
  path: string;
}

export interface ReplicaPlan {
  /** `<workload>-<index>`: the WorkloadEntry name and the proxy's pod name. */
  name: string;
  workload: string;
  namespace: string;
  index: number;
  command: string;
  args: string[];
  cwd: string;
  env: Record<string, string>;
  ports: AppPort[];
  labels: Record<string, string>;
  serviceAccount: string;
  /** statsPort and mergePort: Istio's 15090 and 15020 (netns mode), allocated ports in process mode. */
  sidecar?: { httpProxyPort: number; adminPort: number; statsPort?: number; mergePort?: number };
  /** From `prometheus.io/*` annotations: what the sidecar's merged-metrics port adds (Istio's metrics merging). */
  appMetrics?: AppMetrics;
  /** netns mode: the replica's own address (its WorkloadEntry's); process mode: absent (127.0.0.1). */
  address?: string;
}

/** How many ports a replica needs: one per app port, and with a sidecar as many inbound ports plus four. */
export function portsNeeded(workload: Resource<"Workload">, sidecar: boolean): number {
  const appPorts = Math.max(1, workload.spec.ports?.length ?? 0);
  return sidecar ? appPorts * 2 + 4 : appPorts;
}

/** Splits a flat list of allocated ports into their roles (the order `portsNeeded` counted). */
export function assignPorts(workload: Resource<"Workload">, sidecar: boolean, ports: readonly number[]): ReplicaPorts {
  const n = Math.max(1, workload.spec.ports?.length ?? 0);
  if (ports.length < portsNeeded(workload, sidecar)) throw new Error(`workload ${workload.metadata.name} needs ${portsNeeded(workload, sidecar)} ports, got ${ports.length}`);
  const app = ports.slice(0, n);
  if (!sidecar) return { app };
  return { app, sidecar: { inbound: ports.slice(n, 2 * n), httpProxy: ports[2 * n], admin: ports[2 * n + 1], stats: ports[2 * n + 2], merge: ports[2 * n + 3] } };
}

function envRecord(env: Resource<"Workload">["spec"]["env"]): Record<string, string> {
  if (!env) return {};
  if (Array.isArray(env)) return Object.fromEntries(env.map((e) => [e.name, e.value]));
  return { ...env };
}

/** The directory relative paths in a Workload resolve against: its file's, else the current one. */
export function baseDir(resource: AnyResource, cwd = process.cwd()): string {
  return resource.source?.file ? dirname(resolve(cwd, resource.source.file)) : cwd;
}

/** A relative program path (`./server.sh`, `bin/app`) resolves against the mesh file; a bare name (`node`) is looked up in PATH. */
function resolveCommand(command: string, base: string): string {
  if (isAbsolute(command) || !command.includes("/")) return command;
  return resolve(base, command);
}

export function envName(portName: string): string {
  return portName.toUpperCase().replace(/[^A-Z0-9]/g, "_");
}

export function planReplica(workload: Resource<"Workload">, index: number, ports: ReplicaPorts, base: string): ReplicaPlan {
  const spec = workload.spec;
  const name = workload.metadata.name;
  const namespace = workload.metadata.namespace ?? "default";
  const declared = spec.ports?.length ? spec.ports : [{ containerPort: 0 } as { name?: string; containerPort: number }];
  const appPorts: AppPort[] = declared.map((p, i) => ({
    ...(p.name ? { name: p.name } : {}),
    containerPort: p.containerPort,
    port: ports.app[i],
    ...(ports.sidecar ? { inboundPort: ports.sidecar.inbound[i] } : {}),
  }));
  const env: Record<string, string> = { PORT: String(appPorts[0].port) };
  for (const p of appPorts) if (p.name) env[`PORT_${envName(p.name)}`] = String(p.port);
  if (ports.sidecar) {
    const proxy = `http://127.0.0.1:${ports.sidecar.httpProxy}`;
    // Both spellings: tools differ in which one they read.
    Object.assign(env, { HTTP_PROXY: proxy, http_proxy: proxy, NO_PROXY: "localhost,127.0.0.1", no_proxy: "localhost,127.0.0.1" });
  }
  // The user's env comes last: a Workload may override what the runtime sets.
  Object.assign(env, envRecord(spec.env));
  const [program, ...commandArgs] = spec.command;
  const plan: ReplicaPlan = {
    name: `${name}-${index}`,
    workload: name,
    namespace,
    index,
    command: resolveCommand(program, base),
    args: [...commandArgs, ...(spec.args ?? [])],
    cwd: spec.workingDir ? resolve(base, spec.workingDir) : base,
    env,
    ports: appPorts,
    labels: { ...(workload.metadata.labels ?? {}), ...(spec.labels ?? {}) },
    serviceAccount: spec.serviceAccount || "default",
    ...(ports.sidecar ? { sidecar: { httpProxyPort: ports.sidecar.httpProxy, adminPort: ports.sidecar.admin, statsPort: ports.sidecar.stats, mergePort: ports.sidecar.merge } } : {}),
  };
  const appMetrics = appMetricsOf(workload.metadata.annotations, plan);
  if (appMetrics) plan.appMetrics = appMetrics;
  return plan;
}

/**
 * The app's metrics endpoint from Istio's `prometheus.io/scrape|port|path` annotations,
 * or undefined when the Workload does not ask to be scraped. The port may be a Workload
 * port's name or number (the containerPort, or the port the app really listens on): WHY
 * a name too, Skiff assigns ports (containerPort 0), so a number is not always known when
 * the file is written. Without a port, the first app port, as a Prometheus pod job would
 * take the first declared port; without a path, /metrics (Prometheus's default).
 */
export function appMetricsOf(annotations: Record<string, string> | undefined, plan: ReplicaPlan): AppMetrics | undefined {
  if (!annotations || annotations[PROMETHEUS_SCRAPE] !== "true") return undefined;
  const ref = annotations[PROMETHEUS_PORT];
  let port: number | undefined = plan.ports[0]?.port;
  if (ref !== undefined && ref !== "") {
    const asNumber = /^\d+$/.test(ref) ? Number(ref) : undefined;
    port = asNumber === undefined ? probePort(plan, ref) : (probePort(plan, asNumber) ?? plan.ports.find((p) => p.port === asNumber)?.port ?? asNumber);
  }
  if (!port) return undefined;
  const path = annotations[PROMETHEUS_PATH] || "/metrics";
  return { port, path: path.startsWith("/") ? path : `/${path}` };
}

/**
 * Node metadata for the proxy's Prometheus ports (telemetry-proxy.ts reads it): the
 * stats and merge ports, and the app's endpoint as Istio's agent gets it
 * (PROMETHEUS_ANNOTATIONS, the pod's original prometheus.io annotations).
 */
export function prometheusMetadata(plan: Pick<ReplicaPlan, "sidecar" | "appMetrics">): Record<string, unknown> {
  const md: Record<string, unknown> = {};
  if (plan.sidecar?.statsPort !== undefined) md.STATS_PORT = String(plan.sidecar.statsPort);
  if (plan.sidecar?.mergePort !== undefined) md.METRICS_MERGE_PORT = String(plan.sidecar.mergePort);
  if (plan.appMetrics) md.PROMETHEUS_ANNOTATIONS = { [PROMETHEUS_SCRAPE]: "true", [PROMETHEUS_PORT]: String(plan.appMetrics.port), [PROMETHEUS_PATH]: plan.appMetrics.path };
  return md;
}

/** The app port a probe refers to, by port name or by the Workload's containerPort number. */
export function probePort(plan: ReplicaPlan, ref: number | string): number | undefined {
  const match = typeof ref === "string" ? plan.ports.find((p) => p.name === ref) : plan.ports.find((p) => p.containerPort === ref && ref !== 0);
  return match?.port;
}

/**
 * The replica as Istio would see a VM: a WorkloadEntry at 127.0.0.1 whose named ports
 * are where traffic for it must go (the sidecar's inbound port, or the app's own port
 * without a sidecar). Not ready → annotated unhealthy (the registry's health rule), so
 * proxies stop sending it traffic.
 */
export function workloadEntryFor(plan: ReplicaPlan, ready: boolean, services: readonly Resource<"Service">[] = []): AnyResource {
  const ports: Record<string, number> = {};
  for (const p of plan.ports) if (p.name) ports[p.name] = p.inboundPort ?? p.port;
  // A Service whose targetPort is a number (or unset: the port itself) means the pod's
  // containerPort, which no replica listens on in process mode. The registry looks a
  // WorkloadEntry port up by the service port's name first, so those service ports get
  // an entry by that name pointing where the containerPort's traffic must go.
  for (const svc of services) {
    if (svc.metadata.namespace !== plan.namespace || !selects(svc.spec.selector, plan.labels)) continue;
    for (const sp of svc.spec.ports ?? []) {
      const target = sp.targetPort ?? sp.port;
      if (!sp.name || typeof target !== "number" || ports[sp.name] !== undefined) continue;
      const match = plan.ports.find((p) => p.containerPort !== 0 && p.containerPort === target);
      if (match) ports[sp.name] = match.inboundPort ?? match.port;
    }
  }
  const labels = { ...plan.labels };
  if (plan.sidecar) labels[TLS_MODE_LABEL] = "istio";
  return {
    apiVersion: "networking.istio.io/v1",
    kind: "WorkloadEntry",
    metadata: {
      name: plan.name,
      namespace: plan.namespace,
      labels,
      ...(ready ? {} : { annotations: { [HEALTH_ANNOTATION]: "unhealthy" } }),
    },
    spec: { address: plan.address ?? "127.0.0.1", ports, labels, serviceAccount: plan.serviceAccount },
  };
}

function selects(selector: Record<string, string> | undefined, labels: Record<string, string>): boolean {
  // A Service without a selector selects nothing (its endpoints are managed by hand).
  if (!selector || Object.keys(selector).length === 0) return false;
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

/** The sidecar's bootstrap (process mode). */
export function sidecarBootstrap(plan: ReplicaPlan, xdsAddress: string, domain = "cluster.local"): Record<string, unknown> {
  if (!plan.sidecar) throw new Error(`${plan.name} has no sidecar`);
  const appPorts: Record<number, number> = {};
  for (const p of plan.ports) if (p.inboundPort !== undefined) appPorts[p.inboundPort] = p.port;
  return buildBootstrap({
    kind: "sidecar",
    name: plan.name,
    namespace: plan.namespace,
    address: "127.0.0.1",
    domain,
    xdsAddress,
    adminPort: plan.sidecar.adminPort,
    metadata: {
      ...processSidecarMetadata({
        labels: plan.labels,
        namespace: plan.namespace,
        serviceAccount: plan.serviceAccount,
        workloadName: plan.workload,
        httpProxyPort: plan.sidecar.httpProxyPort,
        appPorts,
      }),
      ...prometheusMetadata(plan),
    },
  });
}

/** Whether workloads of a namespace get sidecars: its label `istio-injection: enabled`, as in Istio. */
export function injectionEnabled(namespaces: readonly Resource<"Namespace">[], namespace: string): boolean {
  const ns = namespaces.find((n) => n.metadata.name === namespace);
  return ns?.metadata.labels?.["istio-injection"] === "enabled";
}
