// buildRegistry: config objects in, services and endpoints out. Pure and deterministic:
// the same resources (in any order) give the same snapshot.
//
// - Kubernetes Service → one MeshService `name.namespace.svc.<domain>`; its endpoints are
//   the WorkloadEntries of its namespace that its selector matches (as Istio does for VMs).
// - ServiceEntry → one MeshService per host; endpoints from inline `endpoints`, else from
//   the WorkloadEntries its `workloadSelector` matches, else (DNS resolution) the host itself.
// - WorkloadEntry → a workload instance: address, named ports, labels, service account...
import { isIP } from "node:net";
import type { AnyResource, Resource, KubeServicePort, ServicePortSpec, WorkloadEntrySpec } from "../api/index.ts";
import type { Endpoint, MeshService, RegistrySnapshot, Resolution, ServicePort } from "./types.ts";
import { endpointKey } from "./types.ts";
import { selectKubeProtocol, selectServiceEntryProtocol } from "./protocol.ts";
import { allocateVips } from "./vip.ts";

export interface BuildOptions {
  /** DNS domain of Kubernetes Services: `cluster.local`. */
  domain: string;
  /** Version stamped on the snapshot (the config store's version). */
  version?: number;
}

/** Label or annotation on a WorkloadEntry (or inline endpoint label) marking it down. */
export const HEALTH_LABEL = "skiff.dev/health";
/** Istio's label saying a workload's sidecar accepts mesh mTLS. */
export const TLS_MODE_LABEL = "security.istio.io/tlsMode";
/** Istio's annotation restricting a Kubernetes Service's visibility. */
export const EXPORT_TO_ANNOTATION = "networking.istio.io/exportTo";

/** Istio's label naming the workload a WorkloadEntry belongs to (telemetry's workload name). */
export const WORKLOAD_NAME_LABEL = "service.istio.io/workload-name";
/** Set by `skiff up` on each replica's WorkloadEntry: the Workload it is a replica of. */
export const SKIFF_WORKLOAD_ANNOTATION = "skiff.dev/workload";
/** Istio's annotation on auto-registered WorkloadEntries: the WorkloadGroup they belong to. */
const AUTO_REGISTRATION_GROUP_ANNOTATION = "istio.io/autoRegistrationGroup";
/** Istio's legacy locality label (`region.zone.subzone`), used when `locality` is unset. */
const LOCALITY_LABEL = "istio-locality";

/** A workload instance from a WorkloadEntry (or an inline ServiceEntry endpoint). */
interface Instance {
  name: string;
  /**
   * The address is a hostname or a unix socket: only a DNS ServiceEntry can use it
   * (a Kubernetes Service or a STATIC entry needs an IP), as in Istio.
   */
  dnsOnly: boolean;
  namespace: string;
  address: string;
  ports: Record<string, number>;
  labels: Record<string, string>;
  serviceAccount: string;
  locality: string;
  weight: number;
  healthy: boolean;
  tlsMode: "istio" | "disabled";
  network?: string;
}

/** A service with the endpoints it will have, before addresses are allocated. */
interface Built {
  service: MeshService;
  endpoints: Endpoint[];
  /** Whether it should get an automatic virtual IP when it has no address. */
  wantsVip: boolean;
}

export function buildRegistry(resources: readonly AnyResource[], opts: BuildOptions): RegistrySnapshot {
  const sorted = [...resources].sort(byKindNamespaceName);
  const instances = new InstanceIndex(sorted.filter(isKind("WorkloadEntry")).flatMap((we) => {
    const instance = instanceFrom(we.spec, workloadNameOf(we), we.metadata.namespace ?? "default", { ...we.metadata.labels, ...we.metadata.annotations });
    return instance ? [instance] : [];
  }));

  const built: Built[] = [];
  for (const svc of sorted.filter(isKind("Service"))) built.push(fromKubeService(svc, instances, opts.domain));
  for (const se of sorted.filter(isKind("ServiceEntry"))) built.push(...fromServiceEntry(se, instances));

  // One service per hostname and namespace: a Kubernetes Service wins over a ServiceEntry
  // for the same host, and otherwise the first object by namespace/name.
  const seen = new Set<string>();
  const unique = built.filter((b) => {
    const id = `${b.service.hostname}\n${b.service.namespace}`;
    if (seen.has(id)) return false;
    seen.add(id);
    return true;
  });

  const taken = unique.flatMap((b) => b.service.addresses);
  const vips = allocateVips(
    unique.filter((b) => b.wantsVip && b.service.addresses.length === 0).map((b) => b.service.hostname),
    taken,
  );

  const services: MeshService[] = [];
  const endpoints = new Map<string, Endpoint[]>();
  for (const b of unique) {
    const vip = b.wantsVip && b.service.addresses.length === 0 ? vips.get(b.service.hostname) : undefined;
    services.push(vip ? { ...b.service, addresses: [vip] } : b.service);
    for (const port of b.service.ports) {
      const key = endpointKey(b.service.hostname, port.port);
      const list = endpoints.get(key) ?? [];
      list.push(...b.endpoints.filter((e) => e.servicePort === port.port));
      endpoints.set(key, list);
    }
  }
  services.sort((a, b) => compare(a.hostname, b.hostname) || compare(a.namespace, b.namespace));
  for (const [key, list] of endpoints) endpoints.set(key, dedupeEndpoints(list).sort((a, b) => compareAddresses(a.address, b.address) || a.port - b.port || compare(a.namespace, b.namespace) || compare(a.workloadName, b.workloadName)));
  return { services, endpoints, version: opts.version ?? 0 };
}

// ---------------------------------------------------------------- Kubernetes Service

function fromKubeService(svc: Resource<"Service">, instances: InstanceIndex, domain: string): Built {
  const namespace = svc.metadata.namespace ?? "default";
  const spec = svc.spec;
  const hostname = `${svc.metadata.name}.${namespace}.svc.${domain}`;
  const ports: ServicePort[] = (spec.ports ?? []).map((p) => ({
    name: p.name ?? "",
    port: p.port,
    protocol: selectKubeProtocol(p),
    ...(p.targetPort !== undefined ? { targetPort: p.targetPort } : {}),
  }));
  const headless = spec.clusterIP === "None";
  const externalName = spec.type === "ExternalName";
  const addresses = uniqueSorted([...(spec.clusterIPs ?? []), ...(spec.clusterIP ? [spec.clusterIP] : [])].filter((a) => a !== "None" && a !== ""));
  const resolution: Resolution = headless ? "Passthrough" : externalName ? "DNSLB" : "ClientSideLB";

  let endpoints: Endpoint[] = [];
  if (externalName && spec.externalName) {
    // An ExternalName service is a DNS alias: its one endpoint is the name it points at.
    endpoints = ports.map((p) => ({
      hostname,
      servicePort: p.port,
      servicePortName: p.name,
      address: spec.externalName!,
      port: p.port,
      labels: {},
      namespace,
      serviceAccount: "",
      workloadName: svc.metadata.name,
      locality: "",
      weight: 1,
      healthy: true,
      tlsMode: "disabled",
    }));
  } else if (spec.selector && Object.keys(spec.selector).length > 0) {
    // A Service without a selector selects nothing (in Kubernetes its endpoints would be
    // managed by hand, which Skiff does not read).
    const selected = instances.select(namespace, spec.selector).filter((i) => !i.dnsOnly);
    for (const i of selected) {
      for (const [index, p] of ports.entries()) {
        // Istio gives VMs no endpoints on UDP ports: the proxy does not carry UDP.
        if (p.protocol === "UDP") continue;
        const target = kubeTargetPort(spec.ports![index], i);
        if (target !== undefined) endpoints.push(endpointOf(hostname, p, i, target));
      }
    }
  }
  const service: MeshService = {
    hostname,
    name: svc.metadata.name,
    namespace,
    addresses,
    ports,
    resolution,
    meshExternal: externalName,
    labels: { ...svc.metadata.labels },
    exportTo: resolveExportTo(svc.metadata.annotations?.[EXPORT_TO_ANNOTATION]?.split(","), namespace),
    origin: `Service/${namespace}/${svc.metadata.name}`,
    serviceAccounts: serviceAccountsOf(endpoints),
  };
  return { service, endpoints, wantsVip: !headless && !externalName };
}

/**
 * Where a Service port reaches a WorkloadEntry, as Istio resolves it for VMs:
 * - a *named* targetPort must be in the entry's `ports` map; an entry without that name
 *   is no endpoint of this port (sending traffic to a guessed port would be worse);
 * - otherwise (numeric or unset targetPort; Kubernetes defaults unset to the port) the
 *   entry's port named like the *service port* wins when the entry has one, since an
 *   entry's ports map is how a VM (or a `skiff up` replica on an assigned port) says
 *   where it listens; else the numeric targetPort; else the service port.
 * Returns undefined when the entry does not serve this port.
 */
function kubeTargetPort(p: KubeServicePort, i: Instance): number | undefined {
  const target = p.targetPort;
  const numeric = typeof target === "number" ? target : /^\d+$/.test(target ?? "") ? Number(target) : undefined;
  if (typeof target === "string" && target !== "" && numeric === undefined) return i.ports[target];
  if (p.name && i.ports[p.name] !== undefined) return i.ports[p.name];
  return numeric && numeric > 0 ? numeric : p.port;
}

// ---------------------------------------------------------------- ServiceEntry

const RESOLUTIONS: Readonly<Record<string, Resolution>> = {
  NONE: "Passthrough",
  STATIC: "ClientSideLB",
  DNS: "DNSLB",
  DNS_ROUND_ROBIN: "DNSRoundRobinLB",
};

function fromServiceEntry(se: Resource<"ServiceEntry">, instances: InstanceIndex): Built[] {
  const namespace = se.metadata.namespace ?? "default";
  const spec = se.spec;
  const resolution = RESOLUTIONS[spec.resolution ?? "NONE"] ?? "Passthrough";
  const ports: ServicePort[] = (spec.ports ?? []).map((p) => ({
    name: p.name,
    port: p.number,
    protocol: selectServiceEntryProtocol(p.protocol),
    ...(p.targetPort !== undefined ? { targetPort: p.targetPort } : {}),
  }));
  const exportTo = resolveExportTo(spec.exportTo, namespace);
  const origin = `ServiceEntry/${namespace}/${se.metadata.name}`;

  let backing: Instance[];
  if (spec.endpoints && spec.endpoints.length > 0) {
    backing = spec.endpoints.flatMap((e) => {
      const i = instanceFrom(e, se.metadata.name, namespace, undefined);
      return i ? [i] : [];
    });
  } else if (spec.workloadSelector) {
    const selector = spec.workloadSelector.labels ?? {};
    const dns = resolution === "DNSLB" || resolution === "DNSRoundRobinLB";
    backing = instances.select(namespace, selector).filter((i) => dns || !i.dnsOnly);
  } else backing = [];

  return spec.hosts.map((host) => {
    let endpoints: Endpoint[] = [];
    for (const p of ports) {
      const specPort = spec.ports!.find((sp) => sp.number === p.port)!;
      for (const i of backing) endpoints.push(endpointOf(host, p, i, serviceEntryTargetPort(specPort, i)));
    }
    // DNS resolution without endpoints resolves the host itself (not a wildcard).
    if (backing.length === 0 && !spec.workloadSelector && (resolution === "DNSLB" || resolution === "DNSRoundRobinLB") && !host.startsWith("*")) {
      endpoints = ports.map((p) => ({
        hostname: host,
        servicePort: p.port,
        servicePortName: p.name,
        address: host,
        port: typeof p.targetPort === "number" ? p.targetPort : p.port,
        labels: {},
        namespace,
        serviceAccount: "",
        workloadName: se.metadata.name,
        locality: "",
        weight: 1,
        healthy: true,
        tlsMode: "disabled" as const,
      }));
    }
    const service: MeshService = {
      hostname: host,
      name: host,
      namespace,
      addresses: uniqueSorted(spec.addresses ?? []),
      ports,
      resolution,
      // MESH_EXTERNAL is the API's default location.
      meshExternal: spec.location !== "MESH_INTERNAL",
      labels: { ...se.metadata.labels },
      exportTo,
      origin,
      serviceAccounts: serviceAccountsOf(endpoints),
    };
    // As Istio's auto-allocation: wildcard hosts and passthrough (NONE) entries get no VIP.
    return { service, endpoints, wantsVip: !host.startsWith("*") && resolution !== "Passthrough" };
  });
}

/** The entry's port named like the ServiceEntry port, else the targetPort, else the port. */
function serviceEntryTargetPort(p: ServicePortSpec, i: Instance): number {
  return i.ports[p.name] ?? p.targetPort ?? p.number;
}

// ---------------------------------------------------------------- workloads and endpoints

/**
 * The workload name Istio gives a WorkloadEntry's endpoints (WorkloadNameFromWorkloadEntry),
 * then the `skiff.dev/workload` annotation the local runtime puts on its replicas.
 */
function workloadNameOf(we: Resource<"WorkloadEntry">): string {
  const { annotations, labels, name } = we.metadata;
  return annotations?.[AUTO_REGISTRATION_GROUP_ANNOTATION] ?? labels?.[WORKLOAD_NAME_LABEL] ?? annotations?.[SKIFF_WORKLOAD_ANNOTATION] ?? name;
}

/**
 * `meta` holds the WorkloadEntry's own labels and annotations (inline ServiceEntry
 * endpoints have none); only the health marker is read from them. Selection uses the
 * spec's labels, as in Istio.
 */
function instanceFrom(spec: WorkloadEntrySpec, name: string, namespace: string, meta: Record<string, string> | undefined): Instance | undefined {
  if (!spec.address) return undefined; // nothing to send traffic to
  const labels: Record<string, string> = { ...(spec.labels ?? {}) };
  const health = labels[HEALTH_LABEL] ?? meta?.[HEALTH_LABEL];
  return {
    name,
    dnsOnly: spec.address.startsWith("unix://") || !isIpAddress(spec.address),
    namespace,
    address: spec.address,
    ports: { ...(spec.ports ?? {}) },
    labels,
    serviceAccount: spec.serviceAccount || "default",
    locality: spec.locality || (labels[LOCALITY_LABEL] ?? "").replaceAll(".", "/"),
    // Istio treats an unset (0) weight as 1.
    weight: spec.weight && spec.weight > 0 ? spec.weight : 1,
    healthy: health?.toLowerCase() !== "unhealthy",
    tlsMode: labels[TLS_MODE_LABEL] === "istio" ? "istio" : "disabled",
    ...(spec.network ? { network: spec.network } : {}),
  };
}

function endpointOf(hostname: string, p: ServicePort, i: Instance, port: number): Endpoint {
  return {
    hostname,
    servicePort: p.port,
    servicePortName: p.name,
    address: i.address,
    port,
    labels: i.labels,
    namespace: i.namespace,
    serviceAccount: i.serviceAccount,
    workloadName: i.name,
    locality: i.locality,
    weight: i.weight,
    healthy: i.healthy,
    tlsMode: i.tlsMode,
    ...(i.network ? { network: i.network } : {}),
  };
}

/**
 * Workload instances by namespace and by each `key=value` label, so that selecting for
 * one service looks at the instances carrying one of its labels rather than at all of
 * them (a thousand services over five thousand entries would otherwise be five million
 * label comparisons per rebuild).
 */
class InstanceIndex {
  readonly #byNamespace = new Map<string, Instance[]>();
  readonly #byLabel = new Map<string, Instance[]>();

  constructor(instances: readonly Instance[]) {
    for (const i of instances) {
      push(this.#byNamespace, i.namespace, i);
      for (const [k, v] of Object.entries(i.labels)) push(this.#byLabel, labelKey(i.namespace, k, v), i);
    }
  }

  /** Instances of `namespace` whose labels include all of `selector` (all of them for an empty selector), in input order. */
  select(namespace: string, selector: Record<string, string>): Instance[] {
    const pairs = Object.entries(selector);
    if (pairs.length === 0) return [...(this.#byNamespace.get(namespace) ?? [])];
    const [k, v] = pairs[0];
    return (this.#byLabel.get(labelKey(namespace, k, v)) ?? []).filter((i) => matches(selector, i.labels));
  }
}

function labelKey(namespace: string, key: string, value: string): string {
  return `${namespace}\n${key}\n${value}`;
}

function push<T>(map: Map<string, T[]>, key: string, value: T): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

function isIpAddress(address: string): boolean {
  return isIP(address) !== 0;
}

function matches(selector: Record<string, string>, labels: Record<string, string>): boolean {
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

function serviceAccountsOf(endpoints: readonly Endpoint[]): string[] {
  return uniqueSorted(endpoints.map((e) => e.serviceAccount).filter((sa) => sa !== ""));
}

/** `.` is the object's own namespace, `~` is nobody, unset is everyone. */
function resolveExportTo(raw: readonly string[] | undefined, namespace: string): string[] {
  const list = (raw ?? []).map((s) => s.trim()).filter((s) => s !== "");
  if (list.length === 0) return ["*"];
  if (list.includes("*")) return ["*"];
  return uniqueSorted(list.filter((s) => s !== "~").map((s) => (s === "." ? namespace : s)));
}

/** The same workload selected twice for one port (two services sharing a host) counts once. */
function dedupeEndpoints(list: readonly Endpoint[]): Endpoint[] {
  const seen = new Set<string>();
  return list.filter((e) => {
    const id = `${e.address}|${e.port}|${e.namespace}|${e.workloadName}`;
    if (seen.has(id)) return false;
    seen.add(id);
    return true;
  });
}

// ---------------------------------------------------------------- ordering helpers

function isKind<K extends AnyResource["kind"]>(kind: K) {
  return (r: AnyResource): r is Extract<AnyResource, { kind: K }> => r.kind === kind;
}

function byKindNamespaceName(a: AnyResource, b: AnyResource): number {
  return compare(a.kind, b.kind) || compare(a.metadata.namespace ?? "", b.metadata.namespace ?? "") || compare(a.metadata.name, b.metadata.name);
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** IPv4 addresses in numeric order (10.0.0.2 before 10.0.0.10); anything else as text, after. */
function compareAddresses(a: string, b: string): number {
  const na = ipv4Number(a);
  const nb = ipv4Number(b);
  if (na !== undefined && nb !== undefined) return na - nb;
  if (na !== undefined) return -1;
  if (nb !== undefined) return 1;
  return compare(a, b);
}

function ipv4Number(s: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (!m) return undefined;
  return ((Number(m[1]) * 256 + Number(m[2])) * 256 + Number(m[3])) * 256 + Number(m[4]);
}

function uniqueSorted(list: readonly string[]): string[] {
  return [...new Set(list)].sort();
}
