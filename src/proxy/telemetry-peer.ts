// Workload metadata for Istio's labels: this proxy's own (from its node metadata) and
// its peer's (from the metadata-exchange headers), and Istio's HTTP header encoding.
//
// Istio's HTTP metadata exchange sends two headers: `x-envoy-peer-metadata-id` (the
// node id) and `x-envoy-peer-metadata` (base64 of a protobuf google.protobuf.Struct
// holding the node metadata fields that matter for telemetry). Envoys with Istio's
// extensions and Skiff's proxy therefore understand each other's headers.
//
// WHY a decode cache: a peer sends the same header value on every request, so it is
// decoded once and every later request costs one Map lookup; the decoded PeerInfo also
// carries the per-peer metric handles (see telemetry-hcm.ts), so no label strings are
// built per request.
import protobuf from "protobufjs";
import type { WorkloadMetadata } from "../telemetry/index.ts";
import type { Json } from "./json.ts";

export const PEER_METADATA_HEADER = "x-envoy-peer-metadata";
export const PEER_METADATA_ID_HEADER = "x-envoy-peer-metadata-id";

// protobufjs ships google/protobuf/struct.proto as a JSON descriptor ("common" types).
const root = new protobuf.Root();
root.addJSON((protobuf.common as unknown as { get(name: string): { nested: protobuf.INamespace["nested"] } }).get("google/protobuf/struct.proto").nested!);
const StructType = root.lookupType("google.protobuf.Struct");

type StructValue = { nullValue?: 0; numberValue?: number; stringValue?: string; boolValue?: boolean; structValue?: { fields: Record<string, StructValue> }; listValue?: { values: StructValue[] } };

function toValue(v: unknown): StructValue {
  if (v === null || v === undefined) return { nullValue: 0 };
  if (typeof v === "number") return { numberValue: v };
  if (typeof v === "boolean") return { boolValue: v };
  if (typeof v === "string") return { stringValue: v };
  if (Array.isArray(v)) return { listValue: { values: v.map(toValue) } };
  if (typeof v === "object") return { structValue: toStruct(v as Record<string, unknown>) };
  return { stringValue: String(v) };
}

function toStruct(o: Record<string, unknown>): { fields: Record<string, StructValue> } {
  const fields: Record<string, StructValue> = {};
  for (const [k, v] of Object.entries(o)) fields[k] = toValue(v);
  return { fields };
}

function fromValue(v: StructValue): unknown {
  if (v.structValue) return fromStruct(v.structValue);
  if (v.listValue) return (v.listValue.values ?? []).map(fromValue);
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.numberValue !== undefined) return v.numberValue;
  if (v.boolValue !== undefined) return v.boolValue;
  return null;
}

function fromStruct(s: { fields?: Record<string, StructValue> }): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(s.fields ?? {})) out[k] = fromValue(v);
  return out;
}

/** A JSON object as a serialized google.protobuf.Struct. */
export function encodeStruct(o: Record<string, unknown>): Uint8Array {
  return StructType.encode(StructType.fromObject(toStruct(o))).finish();
}

/** A serialized google.protobuf.Struct as a JSON object; undefined when the bytes are not one. */
export function decodeStruct(bytes: Uint8Array): Record<string, unknown> | undefined {
  try {
    return fromStruct(StructType.toObject(StructType.decode(bytes), { defaults: false }) as { fields?: Record<string, StructValue> });
  } catch {
    return undefined;
  }
}

/** base64(protobuf Struct) of a JSON object: Istio's `x-envoy-peer-metadata` value. */
export function encodePeerMetadata(metadata: Record<string, unknown>): string {
  const msg = StructType.fromObject(toStruct(metadata));
  return Buffer.from(StructType.encode(msg).finish()).toString("base64");
}

/** The JSON object in an `x-envoy-peer-metadata` value; undefined when it is not one. */
export function decodePeerMetadata(value: string): Record<string, unknown> | undefined {
  try {
    const bytes = Buffer.from(value, "base64");
    if (bytes.length === 0) return undefined;
    const msg = StructType.decode(bytes);
    return fromStruct(StructType.toObject(msg, { defaults: false }) as { fields?: Record<string, StructValue> });
  } catch {
    return undefined;
  }
}

/** The node metadata keys Istio exchanges (the rest of the node metadata stays private). */
const EXCHANGED_KEYS = ["NAME", "NAMESPACE", "LABELS", "WORKLOAD_NAME", "CLUSTER_ID", "SERVICE_ACCOUNT", "OWNER", "MESH_ID", "APP_CONTAINERS", "PLATFORM_METADATA"];

export function exchangedMetadata(nodeMetadata: Json): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of EXCHANGED_KEYS) if (nodeMetadata[k] !== undefined) out[k] = nodeMetadata[k];
  return out;
}

function str(v: unknown): string | undefined {
  return typeof v === "string" && v !== "" ? v : undefined;
}

/** A workload as Istio's label computation reads it, from node metadata (own or exchanged). */
export function workloadFromMetadata(md: Record<string, unknown>, nodeId = ""): WorkloadMetadata {
  const labels: Record<string, string> = {};
  const rawLabels = md.LABELS;
  if (rawLabels && typeof rawLabels === "object") for (const [k, v] of Object.entries(rawLabels)) if (typeof v === "string") labels[k] = v;
  // Node id sidecar~IP~POD.NAMESPACE~NAMESPACE.svc.cluster.local: the namespace when metadata lacks it.
  const idNs = nodeId.split("~")[2]?.split(".")[1];
  const owner = str(md.OWNER);
  return {
    workloadName: str(md.WORKLOAD_NAME) ?? (owner ? owner.slice(owner.lastIndexOf("/") + 1) : undefined) ?? str(md.NAME),
    namespace: str(md.NAMESPACE) ?? str(idNs),
    labels,
    clusterId: str(md.CLUSTER_ID) ?? "Kubernetes",
  };
}

/** Istio's SPIFFE id for a service account: spiffe://<trust domain>/ns/<ns>/sa/<sa>. */
export function principalFromMetadata(md: Record<string, unknown>, namespace: string | undefined): string | undefined {
  const sa = str(md.SERVICE_ACCOUNT);
  if (!sa || !namespace) return undefined;
  const td = str(md.TRUST_DOMAIN) ?? "cluster.local";
  return `spiffe://${td}/ns/${namespace}/sa/${sa}`;
}

/** A peer as decoded once and then reused; `handles` holds the per-peer metric handles. */
export interface PeerInfo {
  workload: WorkloadMetadata;
  principal: string | undefined;
  /** Per (reporter direction, destination service) metric handles, filled lazily by the HCM telemetry. */
  handles: Map<unknown, unknown>;
}

/** Bounded cache from header value to decoded peer. */
export class PeerCache {
  private readonly map = new Map<string, PeerInfo | null>();
  constructor(private readonly max = 1024) {}

  get(headerValue: string, id: string): PeerInfo | undefined {
    return this.getOr(headerValue, id, () => decodePeerMetadata(headerValue));
  }

  /** The peer under `key` (any stable encoding of its metadata), decoding with `decode` on a miss. */
  getOr(key: string, id: string, decode: () => Record<string, unknown> | undefined): PeerInfo | undefined {
    const hit = this.map.get(key);
    if (hit !== undefined) return hit ?? undefined;
    const md = decode();
    let info: PeerInfo | null = null;
    if (md) {
      const workload = workloadFromMetadata(md, id);
      info = { workload, principal: principalFromMetadata(md, workload.namespace), handles: new Map() };
    }
    if (this.map.size >= this.max) this.map.delete(this.map.keys().next().value!);
    this.map.set(key, info);
    return info ?? undefined;
  }
}
