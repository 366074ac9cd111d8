// Which proxy a command means, from what an Istio user would type: `istioctl proxy-config
// secret sa-webapp-7d9c.default` names a pod as NAME.NAMESPACE, `deploy/sa-webapp` a
// deployment, and `istioctl proxy-status` prints the pod names back. Skiff's local mesh
// has replicas instead of pods and Workloads instead of deployments, so the same forms
// are looked up in the running mesh's state (`skiff up`'s run directory), which records
// each proxy's admin address and xDS node id. A bare admin address or port still works,
// for a proxy that `skiff proxy` runs outside any mesh.
//
// Pure: it reads nothing itself; the command hands it the state.
import type { MeshState, ProcessRecord } from "../runtime/client.ts";

/** A name the user gave that names no proxy, or several: the message says what to type instead. */
export class ProxyTargetError extends Error {}

/** What the command should talk to. */
export interface ProxyTarget {
  /** `http://host:port`, without a trailing slash. */
  adminUrl: string;
  /** How to name it back to the user: `NAME.NAMESPACE`, or the address as given. */
  label: string;
  /** The mesh's record, when the target was found by name. */
  record?: ProcessRecord;
  /** Said on stderr when the name meant several proxies and one was picked (istioctl picks one too). */
  note?: string;
}

/** How the user named the proxy, parsed but not yet looked up. */
export interface ProxyQuery {
  /** `pod`: a replica (`pod/NAME`); `workload`: `deploy/NAME`; `any`: a bare NAME (replica first, then workload); `node`: an xDS node id. */
  by: "pod" | "workload" | "any" | "node";
  name: string;
  namespace?: string;
}

const PROXY_ROLES: readonly ProcessRecord["role"][] = ["sidecar", "gateway"];
// kubectl's and istioctl's resource prefixes. A Skiff Workload plays the Deployment's part.
const WORKLOAD_PREFIXES = new Set(["deploy", "deployment", "deployments", "workload", "workloads"]);
const POD_PREFIXES = new Set(["pod", "pods", "po"]);
// What people call the ingress gateway besides its workload name (istio-ingressgateway).
const GATEWAY_ALIASES = new Set(["ingressgateway", "gateway", "ingress"]);

/** A port, `host:port`, `[v6]:port` or an http(s) URL: the old `skiff proxy-config ADMIN` forms. */
export function isAdminAddress(arg: string): boolean {
  if (arg.includes("~")) return false; // a node id; its IP part may hold colons
  return /^\d+$/.test(arg) || /^https?:\/\//.test(arg) || /^(\[[0-9a-fA-F:.]+\]|[^/:\s]+):\d+$/.test(arg);
}

export function adminUrlOf(address: string): string {
  if (/^\d+$/.test(address)) return `http://127.0.0.1:${address}`;
  return address.startsWith("http") ? address.replace(/\/+$/, "") : `http://${address}`;
}

/** `pod/NAME.NS`, `deploy/NAME`, `NAME.NS`, `NAME`, or a node id; `-n NS` applies when the name carries none. */
export function parseProxyQuery(arg: string, namespace?: string): ProxyQuery {
  if (arg.split("~").length === 4) return { by: "node", name: arg };
  let by: ProxyQuery["by"] = "any";
  let rest = arg;
  const slash = arg.indexOf("/");
  if (slash >= 0) {
    const prefix = arg.slice(0, slash).toLowerCase();
    rest = arg.slice(slash + 1);
    if (WORKLOAD_PREFIXES.has(prefix)) by = "workload";
    else if (POD_PREFIXES.has(prefix)) by = "pod";
    else throw new ProxyTargetError(`"${arg}": unknown kind "${prefix}/"; name a proxy as deploy/WORKLOAD, pod/REPLICA, REPLICA.NAMESPACE or an admin address`);
    if (!rest) throw new ProxyTargetError(`"${arg}" names no ${by === "pod" ? "replica" : "workload"} after the "/"`);
  }
  // istioctl's NAME.NAMESPACE: Skiff's workload and replica names are DNS labels, so a dot
  // can only start the namespace.
  const dot = rest.indexOf(".");
  if (dot > 0) return { by, name: rest.slice(0, dot), namespace: rest.slice(dot + 1) };
  return namespace ? { by, name: rest, namespace } : { by, name: rest };
}

const podName = (p: ProcessRecord): string => `${p.name}.${p.namespace}`;
const byReplicaName = (a: ProcessRecord, b: ProcessRecord): number => podName(a).localeCompare(podName(b), "en", { numeric: true });

/**
 * The mesh's processes a query names, in replica order (sa-logic-2 before sa-logic-10).
 * `roles` chooses apps or proxies: `skiff logs` uses both, proxy commands only proxies.
 */
export function matchProcesses(query: ProxyQuery, processes: readonly ProcessRecord[], roles: readonly ProcessRecord["role"][] = PROXY_ROLES): ProcessRecord[] {
  const candidates = processes.filter((p) => roles.includes(p.role) && (query.namespace === undefined || p.namespace === query.namespace));
  const pick = (keep: (p: ProcessRecord) => boolean): ProcessRecord[] => candidates.filter(keep).sort(byReplicaName);
  if (query.by === "node") return pick((p) => p.nodeId === query.name);
  const replicas = (): ProcessRecord[] => pick((p) => p.name === query.name);
  const workload = (): ProcessRecord[] => {
    const exact = pick((p) => p.workload === query.name);
    return exact.length || !GATEWAY_ALIASES.has(query.name) ? exact : pick((p) => p.role === "gateway");
  };
  if (query.by === "pod") return replicas();
  if (query.by === "workload") return workload();
  const found = replicas();
  return found.length ? found : workload();
}

/** Every proxy of the mesh as NAME.NAMESPACE, for messages. */
export function knownProxies(state: MeshState): string[] {
  return state.processes.filter((p) => PROXY_ROLES.includes(p.role)).sort(byReplicaName).map(podName);
}

function adminAddressOf(p: ProcessRecord, state: MeshState): string {
  if (p.adminAddress) return p.adminAddress;
  // The gateway's admin port was always in the state; sidecars' only since session 2.
  if (p.role === "gateway") return `127.0.0.1:${state.gateway.adminPort}`;
  throw new ProxyTargetError(`the running mesh's state records no admin address for ${podName(p)} (it was started by an older skiff); restart \`skiff up\`, or give the admin address`);
}

/**
 * The proxy `arg` names. `state` is the running mesh's (undefined when none runs; then only
 * an admin address works). Throws ProxyTargetError with a message listing what would work.
 */
export function resolveProxy(arg: string, state: MeshState | undefined, opts: { namespace?: string } = {}): ProxyTarget {
  if (isAdminAddress(arg)) return { adminUrl: adminUrlOf(arg), label: arg };
  if (!state) {
    throw new ProxyTargetError(`no mesh is running to look up "${arg}" in; start one with \`skiff up -f MESH.yaml\`, or give the proxy's admin address (127.0.0.1:15000 or a port)`);
  }
  const query = parseProxyQuery(arg, opts.namespace);
  const matches = matchProcesses(query, state.processes);
  const known = knownProxies(state);
  const choices = `proxies: ${known.join(", ") || "none"} (see \`skiff status\`), or an admin address`;
  if (matches.length === 0) {
    const apps = matchProcesses(query, state.processes, ["app"]);
    const where = query.namespace ? ` in namespace "${query.namespace}"` : "";
    if (apps.length) throw new ProxyTargetError(`"${arg}"${where} runs without a sidecar (no proxy to ask); ${choices}`);
    throw new ProxyTargetError(`no proxy named "${arg}"${where} in the running mesh; ${choices}`);
  }
  const namespaces = [...new Set(matches.map((p) => p.namespace))];
  if (namespaces.length > 1) {
    throw new ProxyTargetError(`"${arg}" is in several namespaces (${namespaces.join(", ")}); say which: ${matches.map(podName).join(", ")}`);
  }
  const chosen = matches[0];
  const target: ProxyTarget = { adminUrl: adminUrlOf(adminAddressOf(chosen, state)), label: podName(chosen), record: chosen };
  if (matches.length > 1) {
    target.note = `"${arg}" has ${matches.length} proxies (${matches.map(podName).join(", ")}); showing ${podName(chosen)}. Name one as REPLICA.NAMESPACE for another.`;
  }
  return target;
}
