// Registry endpoints → Envoy ClusterLoadAssignments (EDS): endpoints of a service port,
// narrowed to a DestinationRule subset by labels, grouped by locality, with weights,
// health and the metadata Istio attaches (workload identity, transport socket match).
import type { Endpoint } from "../../registry/types.ts";
import type { ProxyView } from "./context.ts";
import { parseClusterName } from "./context.ts";
import { socketAddress } from "./envoy-json.ts";
import { parseLocality } from "./hosts.ts";
import type { EnvoyJson } from "./types.ts";
import { endpointTlsModes } from "./security/index.ts";

/** Labels a subset selects by; undefined when the DestinationRule has no such subset. */
export function subsetLabels(view: ProxyView, host: string, subset: string): Record<string, string> | undefined {
  const found = view.destinationRule(host)?.subsets.find((s) => s.name === subset);
  return found ? (found.labels ?? {}) : undefined;
}

function selects(labels: Record<string, string>, endpoint: Endpoint): boolean {
  return Object.entries(labels).every(([k, v]) => endpoint.labels[k] === v);
}

/**
 * Endpoints behind cluster `outbound|port|subset|host` for this proxy: none when the
 * service is not visible or the subset is not defined.
 */
export function clusterEndpoints(view: ProxyView, host: string, port: number, subset: string): readonly Endpoint[] {
  if (!view.service(host)) return [];
  const all = view.ctx.endpoints(host, port);
  if (!subset) return all;
  const labels = subsetLabels(view, host, subset);
  return labels ? all.filter((ep) => selects(labels, ep)) : [];
}

/**
 * Istio's workload metadata string `name;namespace;canonical-service;revision;cluster`,
 * read by telemetry to name the peer without a metadata exchange.
 */
function workloadId(ep: Endpoint): string {
  const canonical = ep.labels["service.istio.io/canonical-name"] ?? ep.labels.app ?? ep.workloadName;
  const revision = ep.labels["service.istio.io/canonical-revision"] ?? ep.labels.version ?? "latest";
  return `${ep.workloadName};${ep.namespace};${canonical};${revision};Kubernetes`;
}

function lbEndpoint(ep: Endpoint): EnvoyJson {
  return {
    endpoint: { address: socketAddress(ep.address, ep.port) },
    health_status: ep.healthy ? "HEALTHY" : "UNHEALTHY",
    metadata: {
      filter_metadata: {
        "envoy.transport_socket_match": { tlsMode: ep.tlsMode },
        istio: { workload: workloadId(ep) },
      },
    },
    load_balancing_weight: ep.weight > 0 ? ep.weight : 1,
  };
}

/**
 * Endpoints grouped by locality (`region/zone/subzone`), localities sorted; a locality's
 * weight is the sum of its endpoints' weights, so weighted localities balance as the
 * registry says.
 */
export function localityLbEndpoints(endpoints: readonly Endpoint[]): EnvoyJson[] {
  const groups = new Map<string, Endpoint[]>();
  for (const ep of endpoints) {
    const list = groups.get(ep.locality) ?? [];
    list.push(ep);
    groups.set(ep.locality, list);
  }
  return [...groups.keys()].sort().map((locality) => {
    const eps = groups.get(locality) ?? [];
    const { region, zone, sub_zone } = parseLocality(locality);
    const loc: EnvoyJson = {};
    if (region) loc.region = region;
    if (zone) loc.zone = zone;
    if (sub_zone) loc.sub_zone = sub_zone;
    const lbEndpoints = eps.map(lbEndpoint);
    const weight = lbEndpoints.reduce((sum, e) => sum + (e.load_balancing_weight as number), 0);
    return { locality: loc, lb_endpoints: lbEndpoints, load_balancing_weight: weight };
  });
}

export function loadAssignment(clusterName: string, endpoints: readonly Endpoint[]): EnvoyJson {
  return { cluster_name: clusterName, endpoints: localityLbEndpoints(endpoints) };
}

/**
 * ClusterLoadAssignments for the named EDS clusters (the names a proxy subscribed to,
 * or every EDS cluster of its CDS answer), sorted by name. Names that are not
 * outbound service clusters are skipped; an outbound name that this proxy cannot see
 * gets an empty assignment, so the proxy stops waiting for it.
 */
export function buildEndpoints(view: ProxyView, clusterNames: readonly string[]): EnvoyJson[] {
  const out: EnvoyJson[] = [];
  // PeerAuthentication DISABLE on a workload or port: its endpoints say tlsMode disabled.
  const tlsModes = endpointTlsModes(view);
  for (const name of [...new Set(clusterNames)].sort()) {
    const parsed = parseClusterName(name);
    if (!parsed || parsed.direction !== "outbound") continue;
    out.push(loadAssignment(name, clusterEndpoints(view, parsed.host, parsed.port, parsed.subset).map(tlsModes)));
  }
  return out;
}
