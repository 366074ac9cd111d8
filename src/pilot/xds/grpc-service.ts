// The ADS gRPC service definition, built by hand from Envoy's protos: requests decode
// to proto3 JSON (so the node's metadata Struct is plain JSON), responses encode from
// pre-encoded Any resources (each resource is encoded once per change, not per send).
import type * as grpc from "@grpc/grpc-js";
import { decodeMessage, encodeMessage } from "../../envoy/index.ts";
import type { DiscoveryRequestJson, OutgoingResponse } from "./connection.ts";

const SERVICE = "envoy.service.discovery.v3.AggregatedDiscoveryService";
const REQUEST = "envoy.service.discovery.v3.DiscoveryRequest";
const RESPONSE = "envoy.service.discovery.v3.DiscoveryResponse";
const DELTA_REQUEST = "envoy.service.discovery.v3.DeltaDiscoveryRequest";
const DELTA_RESPONSE = "envoy.service.discovery.v3.DeltaDiscoveryResponse";

// DiscoveryResponse written by hand: its resources are Any messages encoded once and
// shared by every response that carries them, so a response is a few header bytes and
// one copy of each resource's wire form (kept per Any, built on first use), instead of
// protobufjs re-walking every resource for every proxy.
function varint(n: number): number[] {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return out;
}

/** A length-delimited field (wire type 2): tag, length, bytes. */
function field(number: number, bytes: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from([(number << 3) | 2, ...varint(bytes.length)]), bytes]);
}

const anyEntries = new WeakMap<object, Buffer>();

/** `resources` entry (field 2) of one Any: google.protobuf.Any { type_url = 1; value = 2; }. */
function resourceEntry(any: { type_url: string; value: Buffer }): Buffer {
  let entry = anyEntries.get(any);
  if (!entry) {
    // proto3: empty fields are not written.
    const body = [...(any.type_url ? [field(1, Buffer.from(any.type_url))] : []), ...(any.value.length ? [field(2, any.value)] : [])];
    entry = field(2, Buffer.concat(body));
    anyEntries.set(any, entry);
  }
  return entry;
}

const CONTROL_PLANE = field(6, field(1, Buffer.from("skiff")));

export function serializeResponse(response: OutgoingResponse): Buffer {
  const parts: Buffer[] = [];
  if (response.version_info) parts.push(field(1, Buffer.from(response.version_info)));
  for (const any of response.resources) parts.push(resourceEntry(any));
  if (response.type_url) parts.push(field(4, Buffer.from(response.type_url)));
  if (response.nonce) parts.push(field(5, Buffer.from(response.nonce)));
  parts.push(CONTROL_PLANE);
  return Buffer.concat(parts);
}

export function adsServiceDefinition(): grpc.ServiceDefinition {
  return {
    StreamAggregatedResources: {
      path: `/${SERVICE}/StreamAggregatedResources`,
      requestStream: true,
      responseStream: true,
      requestSerialize: (req: DiscoveryRequestJson) => encodeMessage(REQUEST, req as Record<string, unknown>),
      requestDeserialize: (bytes: Buffer) => decodeMessage(REQUEST, bytes) as DiscoveryRequestJson,
      responseSerialize: serializeResponse,
      responseDeserialize: (bytes: Buffer) => decodeMessage(RESPONSE, bytes),
    },
    DeltaAggregatedResources: {
      path: `/${SERVICE}/DeltaAggregatedResources`,
      requestStream: true,
      responseStream: true,
      requestSerialize: (req: Record<string, unknown>) => encodeMessage(DELTA_REQUEST, req),
      requestDeserialize: (bytes: Buffer) => decodeMessage(DELTA_REQUEST, bytes),
      responseSerialize: (res: Record<string, unknown>) => encodeMessage(DELTA_RESPONSE, res),
      responseDeserialize: (bytes: Buffer) => decodeMessage(DELTA_RESPONSE, bytes),
    },
  };
}
