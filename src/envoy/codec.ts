// The public codec: Envoy resources as proto3 JSON (what translation produces and
// config_dump prints) to and from protobuf bytes (what goes on the xDS wire).
import protobuf from "protobufjs";
import { EnvoyJsonError, FieldError, anyFromJson, anyToJson, fromJson, requireType, toJson } from "./json.ts";

export type EnvoyJsonObject = Record<string, unknown>;

/** An Any on the wire. */
export interface AnyMessage {
  type_url: string;
  value: Uint8Array;
}

function rethrow(typeName: string, err: unknown): never {
  if (err instanceof FieldError) throw new EnvoyJsonError(typeName, err.path, err.detail);
  if (err instanceof EnvoyJsonError) throw err;
  // protobufjs decode errors (truncated or malformed bytes)
  throw new EnvoyJsonError(typeName, "", err instanceof Error ? err.message : String(err));
}

/**
 * `{"@type": "type.googleapis.com/envoy.config.cluster.v3.Cluster", ...}` → an Any.
 * Throws EnvoyJsonError naming the field path and message type on bad input.
 */
export function encodeAny(json: EnvoyJsonObject): AnyMessage & { value: Buffer } {
  const typeUrl = typeof json["@type"] === "string" ? json["@type"] : "google.protobuf.Any";
  try {
    const any = anyFromJson(json, "");
    return { type_url: any.type_url, value: Buffer.from(any.value) };
  } catch (err) {
    rethrow(typeUrl.slice(typeUrl.lastIndexOf("/") + 1), err);
  }
}

/** An Any → JSON with "@type" (nested Any values too). */
export function decodeAny(any: AnyMessage): EnvoyJsonObject {
  try {
    return anyToJson(any.type_url, any.value);
  } catch (err) {
    rethrow(any.type_url.slice(any.type_url.lastIndexOf("/") + 1), err);
  }
}

/** JSON of message `typeName` (e.g. "envoy.config.listener.v3.Listener") → bytes. */
export function encodeMessage(typeName: string, json: EnvoyJsonObject): Buffer {
  const type = requireTypeOrThrow(typeName);
  const wire = fromJson(typeName, json);
  return Buffer.from(type.encode(wire).finish());
}

/** Bytes of message `typeName` → canonical proto3 JSON. */
export function decodeMessage(typeName: string, bytes: Uint8Array): EnvoyJsonObject {
  const type = requireTypeOrThrow(typeName);
  try {
    return toJson(type, type.decode(bytes));
  } catch (err) {
    rethrow(typeName, err);
  }
}

/** Checks JSON against a message type without keeping the bytes; throws like encodeMessage. */
export function validateMessage(typeName: string, json: EnvoyJsonObject): void {
  fromJson(typeName, json);
}

function requireTypeOrThrow(typeName: string): protobuf.Type {
  try {
    return requireType(typeName);
  } catch (err) {
    rethrow(typeName, err);
  }
}
