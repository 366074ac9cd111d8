// The ADS gRPC service definition, built by hand from Envoy's protos: requests decode
// to proto3 JSON (so the node's metadata Struct is plain JSON), responses encode from
// pre-encoded Any resources (each resource is encoded once per change, not per send).
import type * as grpc from "@grpc/grpc-js";
import { decodeMessage, encodeMessage, protoRoot } from "../../envoy/index.ts";
import type { DiscoveryRequestJson, OutgoingResponse } from "./connection.ts";

const SERVICE = "envoy.service.discovery.v3.AggregatedDiscoveryService";
const REQUEST = "envoy.service.discovery.v3.DiscoveryRequest";
const RESPONSE = "envoy.service.discovery.v3.DiscoveryResponse";
const DELTA_REQUEST = "envoy.service.discovery.v3.DeltaDiscoveryRequest";
const DELTA_RESPONSE = "envoy.service.discovery.v3.DeltaDiscoveryResponse";

function serializeResponse(response: OutgoingResponse): Buffer {
  const type = protoRoot().lookupType(RESPONSE);
  return Buffer.from(type.encode({ ...response, control_plane: { identifier: "skiff" } }).finish());
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
