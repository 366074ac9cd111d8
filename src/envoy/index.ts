// The envoy room's public face: Envoy's v3 protos (loaded from @grpc/grpc-js-xds' copy)
// and a strict proto3-JSON codec with Envoy's snake_case field names.
import { envoyRoot } from "./protos.ts";
import type protobuf from "protobufjs";

export { encodeAny, decodeAny, encodeMessage, decodeMessage, validateMessage } from "./codec.ts";
export type { AnyMessage, EnvoyJsonObject } from "./codec.ts";
export { EnvoyJsonError } from "./json.ts";
export { envoyRoot, lookupMessageType, ENVOY_PROTO_FILES } from "./protos.ts";
export { TypeUrl, typeUrlOf, XdsTypeName } from "./type-urls.ts";

/** The protobufjs Root holding Envoy's types (loaded on first call, then cached). */
export function protoRoot(): protobuf.Root {
  return envoyRoot();
}
