// The proxy's bootstrap: an Envoy-like JSON/YAML file with the node identity, the
// admin address, where the xDS server is, and optional static resources.
//
// Accepted shape (a subset of Envoy's Bootstrap, plus one shortcut):
//   node: { id, cluster, metadata }
//   admin: { address: { socket_address: { address, port_value } } }
//   dynamic_resources: { ads_config: { grpc_services: [{ envoy_grpc: { cluster_name: xds-grpc } }] } }
//   static_resources: { listeners: [...], clusters: [...] }   # the xds cluster lives here
//   xds_address: "127.0.0.1:15010"                            # skiff shortcut instead of the above
//   static cluster `sds-grpc` with a pipe address               # the agent's SDS (Istio's shape)
//   sds_address: "unix:/path/to/socket"                        # skiff shortcut instead of the above
import { readFileSync } from "node:fs";
import YAML from "yaml";
import { arr, num, obj, str, type Json } from "./json.ts";

export type ProxyMode = "sidecar" | "router";

export interface Bootstrap {
  node: { id: string; cluster: string; metadata: Json };
  mode: ProxyMode;
  adminAddress: string;
  adminPort: number;
  /** host:port of the ADS server; undefined runs on static resources only. */
  xdsAddress: string | undefined;
  /** Set when the ADS server is reached over TLS: the roots its certificate must chain to. */
  xdsTls?: { rootsPem: string };
  /** gRPC target of the agent's SDS server (`unix:PATH`), from the `sds-grpc` cluster; undefined: no SDS. */
  sdsAddress: string | undefined;
  staticListeners: Json[];
  staticClusters: Json[];
  /** Warming timeout (Envoy's initial_fetch_timeout), ms. */
  initialFetchTimeoutMs: number;
  drainTimeoutMs: number;
}

export class BootstrapError extends Error {}

/** `sidecar~10.0.0.1~pod.ns~ns.svc.cluster.local` → sidecar; `router~...` → router. */
export function modeFromNodeId(id: string): ProxyMode {
  const kind = id.split("~")[0];
  if (kind === "sidecar" || kind === "router") return kind;
  throw new BootstrapError(`node id "${id}" must start with "sidecar~" or "router~" (Istio's form: sidecar~IP~POD.NAMESPACE~NAMESPACE.svc.cluster.local)`);
}

function socketAddress(json: Json | undefined): { address: string; port: number } | undefined {
  const sa = obj(obj(json?.address)?.socket_address) ?? obj(json?.socket_address);
  if (!sa) return undefined;
  return { address: str(sa.address) ?? "127.0.0.1", port: num(sa.port_value) ?? 0 };
}

/** The xDS address from dynamic_resources' ADS cluster, looked up in static clusters. */
function adsAddressFromClusters(json: Json, file: string): string | undefined {
  const ads = obj(obj(json.dynamic_resources)?.ads_config);
  if (!ads) return undefined;
  const grpcService = arr(ads.grpc_services)[0];
  const clusterName = str(obj(grpcService?.envoy_grpc)?.cluster_name);
  if (!clusterName) throw new BootstrapError(`${file}: dynamic_resources.ads_config.grpc_services[0].envoy_grpc.cluster_name is required`);
  const cluster = arr(obj(json.static_resources)?.clusters).find((c) => c.name === clusterName);
  if (!cluster) throw new BootstrapError(`${file}: the ADS cluster "${clusterName}" is not among static_resources.clusters; add it or use xds_address: HOST:PORT`);
  const endpoint = arr(arr(obj(cluster.load_assignment)?.endpoints)[0]?.lb_endpoints)[0];
  const addr = socketAddress(obj(obj(endpoint?.endpoint)?.address) ? { address: obj(obj(endpoint?.endpoint)?.address) } : undefined);
  if (!addr) throw new BootstrapError(`${file}: cluster "${clusterName}" needs load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address`);
  return `${addr.address}:${addr.port}`;
}

/** Istio's name for the bootstrap cluster that reaches the agent's SDS server. */
export const SDS_CLUSTER = "sds-grpc";

/** `unix:PATH` from the sds-grpc cluster's pipe (or socket) address. */
function sdsAddressFromClusters(json: Json, file: string): string | undefined {
  const cluster = arr(obj(json.static_resources)?.clusters).find((c) => c.name === SDS_CLUSTER);
  if (!cluster) return undefined;
  const address = obj(obj(arr(arr(obj(cluster.load_assignment)?.endpoints)[0]?.lb_endpoints)[0]?.endpoint)?.address);
  const pipe = str(obj(address?.pipe)?.path);
  if (pipe) return `unix:${pipe}`;
  const sa = socketAddress(address ? { address } : undefined);
  if (sa) return `${sa.address}:${sa.port}`;
  throw new BootstrapError(`${file}: cluster "${SDS_CLUSTER}" needs load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.pipe.path (the agent's SDS socket)`);
}

export interface BootstrapOverrides {
  nodeId?: string;
  xdsAddress?: string;
  sdsAddress?: string;
  adminPort?: number;
}

export function parseBootstrap(json: Json, file: string, overrides: BootstrapOverrides = {}): Bootstrap {
  const node = obj(json.node) ?? {};
  const id = overrides.nodeId ?? str(node.id);
  if (!id) throw new BootstrapError(`${file}: node.id is required (or pass --node-id)`);
  const admin = socketAddress(obj(json.admin));
  const adsCluster = adsAddressFromClusters(json, file);
  const adsName = str(obj(arr(obj(obj(json.dynamic_resources)?.ads_config)?.grpc_services)[0]?.envoy_grpc)?.cluster_name);
  const sdsCluster = sdsAddressFromClusters(json, file);
  const staticClusters = arr(obj(json.static_resources)?.clusters).filter((c) => c.name !== adsName && c.name !== SDS_CLUSTER);
  return {
    node: { id, cluster: str(node.cluster) ?? id.split("~")[2]?.split(".")[0] ?? "", metadata: obj(node.metadata) ?? {} },
    mode: modeFromNodeId(id),
    adminAddress: admin?.address ?? "127.0.0.1",
    adminPort: overrides.adminPort ?? admin?.port ?? 15000,
    xdsAddress: overrides.xdsAddress ?? str(json.xds_address) ?? adsCluster,
    sdsAddress: overrides.sdsAddress ?? str(json.sds_address) ?? sdsCluster,
    staticListeners: arr(obj(json.static_resources)?.listeners),
    staticClusters,
    initialFetchTimeoutMs: num(json.initial_fetch_timeout_ms) ?? 15_000,
    drainTimeoutMs: num(json.drain_timeout_ms) ?? 5_000,
  };
}

export function loadBootstrap(file: string, overrides: BootstrapOverrides = {}): Bootstrap {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new BootstrapError(`cannot read bootstrap ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = file.endsWith(".json") ? JSON.parse(text) : YAML.parse(text);
  } catch (err) {
    const e = err as Error & { linePos?: { line: number }[] };
    const line = e.linePos?.[0]?.line;
    throw new BootstrapError(`${file}${line ? `:${line}` : ""}: not valid ${file.endsWith(".json") ? "JSON" : "YAML"}: ${e.message.split("\n")[0]}`);
  }
  const json = obj(parsed);
  if (!json) throw new BootstrapError(`${file}: expected a mapping at the top level`);
  return parseBootstrap(json, file, overrides);
}
