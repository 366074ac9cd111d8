// Who is on the other end of an ADS stream: Istio's node id
// `sidecar~10.0.0.1~reviews-v1-abc.default~default.svc.cluster.local` (or `router~...`)
// plus the node metadata Istio's bootstrap sends (field names as Istio's NodeMetadata).
import type { ProxyNode, ProxyType } from "../translate/types.ts";

/** The node as it arrives in a DiscoveryRequest (proto3 JSON). */
export interface XdsNode {
  id?: string;
  cluster?: string;
  metadata?: Record<string, unknown>;
  user_agent_name?: string;
}

export class NodeIdentityError extends Error {}

const ID_FORM = "TYPE~IP~NAME.NAMESPACE~NAMESPACE.svc.cluster.local (TYPE sidecar or router)";

/** Whether the node says it is a proxyless gRPC client (Istio's gRPC bootstrap sets GENERATOR "grpc"). */
export function looksProxyless(node: XdsNode): boolean {
  const generator = node.metadata?.GENERATOR;
  return generator === "grpc" || /^gRPC\b/i.test(node.user_agent_name ?? "");
}

function stringRecord(value: unknown): Record<string, string> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return {};
  return Object.fromEntries(Object.entries(value).filter((e): e is [string, string] => typeof e[1] === "string"));
}

function str(value: unknown): string | undefined {
  return typeof value === "string" && value !== "" ? value : undefined;
}

/**
 * Parses the node. Envoy-style proxies must use Istio's id form; a proxyless gRPC client
 * may send any id (its bootstrap is often hand-written), then metadata or defaults fill in.
 */
export function parseProxyNode(node: XdsNode | undefined, opts: { proxyless?: boolean } = {}): ProxyNode {
  const id = node?.id ?? "";
  const metadata = node?.metadata ?? {};
  const proxyless = opts.proxyless || (node ? looksProxyless(node) : false);
  const parts = id.split("~");
  const wellFormed = parts.length === 4 && (parts[0] === "sidecar" || parts[0] === "router") && parts[2].includes(".");
  if (!wellFormed && !proxyless) {
    throw new NodeIdentityError(
      id ? `node id "${id}" is not in Istio's form ${ID_FORM}` : `the first DiscoveryRequest carries no node id; set node.id to ${ID_FORM}`,
    );
  }
  const podName = wellFormed ? parts[2] : id || "unknown";
  const dot = podName.lastIndexOf(".");
  const idNamespace = wellFormed && dot > 0 ? podName.slice(dot + 1) : undefined;
  const namespace = str(metadata.NAMESPACE) ?? idNamespace ?? "default";
  const ips = str(metadata.INSTANCE_IPS)?.split(",").map((s) => s.trim()).filter(Boolean) ?? (wellFormed && parts[1] ? [parts[1]] : []);
  const type: ProxyType = proxyless ? "proxyless" : (parts[0] as ProxyType);
  return {
    id,
    type,
    ipAddresses: ips,
    podName,
    namespace,
    labels: stringRecord(metadata.LABELS),
    serviceAccount: str(metadata.SERVICE_ACCOUNT) ?? "default",
    workloadName: str(metadata.WORKLOAD_NAME) ?? (wellFormed && dot > 0 ? podName.slice(0, dot) : podName),
    metadata,
  };
}
