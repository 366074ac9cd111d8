// Proto3 JSON mapping over protobufjs reflection, with Envoy's field names (snake_case,
// as config_dump prints them; lowerCamel json names are accepted on input too).
// protobufjs' own fromObject/toObject do not implement the well-known types' JSON forms
// (Duration "1.5s", wrappers as bare values, Struct as plain JSON, Any with "@type")
// and silently drop unknown fields, so this walks the descriptors itself: strict on
// input (an unknown field or a wrong type is an error naming its path), canonical on
// output (defaults omitted, int64 as strings, enums by name).
import protobuf from "protobufjs";
import { lookupMessageType } from "./protos.ts";

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = Record<string, unknown>;
/** A message in the shape protobufjs' encoder accepts (field names as in the .proto). */
type Wire = Record<string, unknown>;

const TYPE_URL_PREFIX = "type.googleapis.com/";

/** The parts of the `long` library (bundled with protobufjs) used for 64-bit fields. */
interface LongValue {
  isZero(): boolean;
  toSigned(): LongValue;
  toUnsigned(): LongValue;
  toString(): string;
}
interface LongStatic {
  fromString(text: string, unsigned?: boolean): LongValue;
  fromNumber(n: number, unsigned?: boolean): LongValue;
  isLong(value: unknown): value is LongValue;
}
const Long = protobuf.util.Long as unknown as LongStatic;

/** Bad JSON for a message: names the message type and the path of the field at fault. */
export class EnvoyJsonError extends Error {
  constructor(
    readonly typeName: string,
    readonly path: string,
    readonly detail: string,
  ) {
    super(`${typeName}${path ? ` at ${path}` : ""}: ${detail}`);
    this.name = "EnvoyJsonError";
  }
}

class FieldError extends Error {
  constructor(
    readonly path: string,
    readonly detail: string,
  ) {
    super(detail);
  }
}

function typeNameOf(type: protobuf.Type): string {
  return type.fullName.replace(/^\./, "");
}

function lowerCamel(name: string): string {
  return name.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase());
}

const fieldIndex = new WeakMap<protobuf.Type, Map<string, protobuf.Field>>();
function fieldsByJsonKey(type: protobuf.Type): Map<string, protobuf.Field> {
  let index = fieldIndex.get(type);
  if (!index) {
    index = new Map();
    for (const field of type.fieldsArray) {
      index.set(field.name, field);
      index.set(lowerCamel(field.name), field);
    }
    fieldIndex.set(type, index);
  }
  return index;
}

export function requireType(typeName: string, path = ""): protobuf.Type {
  const type = lookupMessageType(typeName);
  if (!type) throw new FieldError(path, `unknown message type "${typeName}" (not among the Envoy protos Skiff loads)`);
  return type;
}

export function typeNameFromUrl(typeUrl: string, path = ""): string {
  const slash = typeUrl.lastIndexOf("/");
  if (slash < 0 || !typeUrl.slice(slash + 1)) throw new FieldError(path, `invalid type URL "${typeUrl}" (want type.googleapis.com/<full.message.Name>)`);
  return typeUrl.slice(slash + 1);
}

const describe = (value: unknown): string =>
  value === null ? "null" : Array.isArray(value) ? "an array" : typeof value === "object" ? "an object" : `${typeof value} ${JSON.stringify(value)}`;

const join = (path: string, key: string): string => (path ? `${path}.${key}` : key);

// ---------------------------------------------------------------------------- input

/** Proto3 JSON → a plain object protobufjs can encode. Throws EnvoyJsonError. */
export function fromJson(typeName: string, json: unknown): Wire {
  const type = requireType(typeName);
  try {
    return messageFromJson(type, json, "");
  } catch (err) {
    if (err instanceof FieldError) throw new EnvoyJsonError(typeNameOf(type), err.path, err.detail);
    throw err;
  }
}

/** Encodes an Any from `{"@type": url, ...}` JSON; returns its wire form. */
export function anyFromJson(json: unknown, path: string): { type_url: string; value: Uint8Array } {
  if (typeof json !== "object" || json === null || Array.isArray(json)) throw new FieldError(path, `expected an object with "@type", got ${describe(json)}`);
  const { "@type": typeUrl, ...rest } = json as JsonObject;
  if (typeof typeUrl !== "string") throw new FieldError(path, `missing "@type" (an Any needs "@type": "type.googleapis.com/<message>")`);
  const type = requireType(typeNameFromUrl(typeUrl, join(path, "@type")), join(path, "@type"));
  const inner = hasSpecialJson(type) ? (rest as JsonObject).value : rest;
  if (hasSpecialJson(type)) {
    const extra = Object.keys(rest).filter((k) => k !== "value");
    if (extra.length) throw new FieldError(join(path, extra[0]), `unknown field "${extra[0]}" of google.protobuf.Any holding ${typeNameOf(type)} (use "value")`);
  }
  const wire = messageFromJson(type, inner, path);
  return { type_url: typeUrl, value: type.encode(wire).finish() };
}

const SPECIAL = new Set([
  "google.protobuf.Any",
  "google.protobuf.Duration",
  "google.protobuf.Timestamp",
  "google.protobuf.Struct",
  "google.protobuf.Value",
  "google.protobuf.ListValue",
  "google.protobuf.FieldMask",
  "google.protobuf.DoubleValue",
  "google.protobuf.FloatValue",
  "google.protobuf.Int64Value",
  "google.protobuf.UInt64Value",
  "google.protobuf.Int32Value",
  "google.protobuf.UInt32Value",
  "google.protobuf.BoolValue",
  "google.protobuf.StringValue",
  "google.protobuf.BytesValue",
]);
/** Well-known types whose JSON is not an object of their fields (Any excepted: it is an object). */
function hasSpecialJson(type: protobuf.Type): boolean {
  const name = typeNameOf(type);
  return SPECIAL.has(name) && name !== "google.protobuf.Any";
}

function messageFromJson(type: protobuf.Type, json: unknown, path: string): Wire {
  const name = typeNameOf(type);
  switch (name) {
    case "google.protobuf.Any":
      return anyFromJson(json, path);
    case "google.protobuf.Duration":
      return durationFromJson(json, path);
    case "google.protobuf.Timestamp":
      return timestampFromJson(json, path);
    case "google.protobuf.Struct":
      return structFromJson(json, path);
    case "google.protobuf.Value":
      return valueFromJson(json, path);
    case "google.protobuf.ListValue":
      if (!Array.isArray(json)) throw new FieldError(path, `expected an array, got ${describe(json)}`);
      return { values: json.map((v, i) => valueFromJson(v, `${path}[${i}]`)) };
    case "google.protobuf.FieldMask":
      if (typeof json !== "string") throw new FieldError(path, `expected a string like "a.b,c", got ${describe(json)}`);
      return { paths: json === "" ? [] : json.split(",").map((p) => p.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)) };
  }
  if (name.startsWith("google.protobuf.") && name.endsWith("Value") && type.fields.value) {
    return { value: scalarFromJson(type.fields.value, json, path) };
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    throw new FieldError(path, `expected an object for ${name}, got ${describe(json)}`);
  }
  const index = fieldsByJsonKey(type);
  const out: Wire = {};
  const oneofSet = new Map<string, string>();
  for (const [key, value] of Object.entries(json as JsonObject)) {
    const fieldPath = join(path, key);
    const field = index.get(key);
    if (!field) throw new FieldError(fieldPath, `unknown field "${key}" of ${name}`);
    if (value === undefined) continue;
    // null means "default" for every field except a google.protobuf.Value (JSON null).
    if (value === null && !(field.resolvedType instanceof protobuf.Type && typeNameOf(field.resolvedType) === "google.protobuf.Value")) continue;
    const oneof = field.partOf;
    if (oneof && !oneof.name.startsWith("_")) {
      const other = oneofSet.get(oneof.name);
      if (other) throw new FieldError(fieldPath, `"${field.name}" and "${other}" are both set, but only one of oneof "${oneof.name}" may be`);
      oneofSet.set(oneof.name, field.name);
    }
    out[field.name] = fieldFromJson(field, value, fieldPath);
  }
  return out;
}

function fieldFromJson(field: protobuf.Field, value: unknown, path: string): unknown {
  if (field.map) {
    if (typeof value !== "object" || value === null || Array.isArray(value)) throw new FieldError(path, `expected an object (map), got ${describe(value)}`);
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value as JsonObject)) out[k] = singleFromJson(field, v, `${path}["${k}"]`);
    return out;
  }
  if (field.repeated) {
    if (!Array.isArray(value)) throw new FieldError(path, `expected an array, got ${describe(value)}`);
    return value.map((v, i) => singleFromJson(field, v, `${path}[${i}]`));
  }
  return singleFromJson(field, value, path);
}

function singleFromJson(field: protobuf.Field, value: unknown, path: string): unknown {
  const resolved = field.resolvedType;
  if (resolved instanceof protobuf.Type) return messageFromJson(resolved, value, path);
  if (resolved instanceof protobuf.Enum) return enumFromJson(resolved, value, path);
  return scalarFromJson(field, value, path);
}

function enumFromJson(enumType: protobuf.Enum, value: unknown, path: string): number {
  if (typeof value === "number" && Number.isInteger(value)) return value;
  if (typeof value === "string" && Object.prototype.hasOwnProperty.call(enumType.values, value)) return enumType.values[value];
  const names = Object.keys(enumType.values).join(", ");
  throw new FieldError(path, `invalid value ${describe(value)} for enum ${enumType.fullName.replace(/^\./, "")} (one of ${names})`);
}

const INT32 = new Set(["int32", "sint32", "sfixed32"]);
const UINT32 = new Set(["uint32", "fixed32"]);
const INT64 = new Set(["int64", "sint64", "sfixed64"]);
const UINT64 = new Set(["uint64", "fixed64"]);

function scalarFromJson(field: protobuf.Field, value: unknown, path: string): unknown {
  const t = field.type;
  const wrong = (want: string): never => {
    throw new FieldError(path, `expected ${want} (${t}), got ${describe(value)}`);
  };
  if (t === "string") return typeof value === "string" ? value : wrong("a string");
  if (t === "bool") return typeof value === "boolean" ? value : wrong("true or false");
  if (t === "bytes") {
    if (typeof value !== "string" || !/^[A-Za-z0-9+/_-]*={0,2}$/.test(value)) return wrong("base64 text");
    return Buffer.from(value as string, "base64");
  }
  if (t === "double" || t === "float") {
    if (typeof value === "number") return value;
    if (value === "NaN") return NaN;
    if (value === "Infinity") return Infinity;
    if (value === "-Infinity") return -Infinity;
    if (typeof value === "string" && value.trim() !== "" && Number.isFinite(Number(value))) return Number(value);
    return wrong("a number");
  }
  if (INT32.has(t) || UINT32.has(t)) {
    const n = typeof value === "string" && /^-?\d+$/.test(value) ? Number(value) : value;
    if (typeof n !== "number" || !Number.isInteger(n)) return wrong("an integer");
    const [min, max] = INT32.has(t) ? [-2147483648, 2147483647] : [0, 4294967295];
    if ((n as number) < min || (n as number) > max) throw new FieldError(path, `${n} is out of range for ${t} (${min}..${max})`);
    return n;
  }
  if (INT64.has(t) || UINT64.has(t)) {
    const unsigned = UINT64.has(t);
    let text: string;
    if (typeof value === "number" && Number.isSafeInteger(value)) text = String(value);
    else if (typeof value === "string" && /^-?\d+$/.test(value)) text = value;
    else return wrong("an integer or a decimal string");
    if (unsigned && text.startsWith("-")) throw new FieldError(path, `${text} is negative, but ${t} is unsigned`);
    const big = BigInt(text);
    const [min, max] = unsigned ? [0n, 2n ** 64n - 1n] : [-(2n ** 63n), 2n ** 63n - 1n];
    if (big < min || big > max) throw new FieldError(path, `${text} is out of range for ${t}`);
    return Long.fromString(text, unsigned);
  }
  return wrong("a value");
}

function durationFromJson(json: unknown, path: string): Wire {
  const m = typeof json === "string" ? /^(-)?(\d+)(?:\.(\d{1,9}))?s$/.exec(json) : null;
  if (!m) throw new FieldError(path, `expected a duration like "1.5s" or "0.250s", got ${describe(json)}`);
  const sign = m[1] ? -1 : 1;
  const seconds = Number(m[2]);
  if (seconds > 315576000000) throw new FieldError(path, `duration ${json as string} is out of range (at most 315576000000s)`);
  const nanos = m[3] ? Number(m[3].padEnd(9, "0")) : 0;
  return { seconds: Long.fromNumber(sign * seconds), nanos: sign * nanos };
}

function timestampFromJson(json: unknown, path: string): Wire {
  const m = typeof json === "string" ? /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$/.exec(json) : null;
  const millis = m ? Date.parse(`${m[1]}${m[3]}`) : NaN;
  if (!m || Number.isNaN(millis)) throw new FieldError(path, `expected an RFC 3339 timestamp like "2024-01-02T03:04:05.5Z", got ${describe(json)}`);
  return { seconds: Long.fromNumber(Math.floor(millis / 1000)), nanos: m[2] ? Number(m[2].padEnd(9, "0")) : 0 };
}

function structFromJson(json: unknown, path: string): Wire {
  if (typeof json !== "object" || json === null || Array.isArray(json)) throw new FieldError(path, `expected an object, got ${describe(json)}`);
  const fields: Record<string, Wire> = {};
  for (const [k, v] of Object.entries(json as JsonObject)) fields[k] = valueFromJson(v, join(path, k));
  return { fields };
}

// protobufjs' built-in google/protobuf/struct.proto names Value's fields in lowerCamel.
function valueFromJson(json: unknown, path: string): Wire {
  if (json === null) return { nullValue: 0 };
  if (typeof json === "number") return { numberValue: json };
  if (typeof json === "string") return { stringValue: json };
  if (typeof json === "boolean") return { boolValue: json };
  if (Array.isArray(json)) return { listValue: { values: json.map((v, i) => valueFromJson(v, `${path}[${i}]`)) } };
  if (typeof json === "object") return { structValue: structFromJson(json, path) };
  throw new FieldError(path, `expected a JSON value, got ${describe(json)}`);
}

// --------------------------------------------------------------------------- output

/** A decoded protobufjs message → canonical proto3 JSON (defaults omitted). */
export function toJson(type: protobuf.Type, message: protobuf.Message | Wire): JsonObject {
  const json = messageToJson(type, message as unknown as Wire);
  if (typeof json !== "object" || json === null || Array.isArray(json)) return { value: json };
  return json as JsonObject;
}

/** Decodes an Any's value and returns `{"@type": url, ...}`. */
export function anyToJson(typeUrl: string, value: Uint8Array, path = ""): JsonObject {
  const type = requireType(typeNameFromUrl(typeUrl, path), path);
  const inner = messageToJson(type, type.decode(value) as unknown as Wire);
  if (hasSpecialJson(type)) return { "@type": typeUrl, value: inner };
  return { "@type": typeUrl, ...(inner as Record<string, Json>) };
}

const has = (obj: object, key: string): boolean => Object.prototype.hasOwnProperty.call(obj, key);

function messageToJson(type: protobuf.Type, msg: Wire): Json {
  const name = typeNameOf(type);
  switch (name) {
    case "google.protobuf.Any":
      return anyToJson(String(msg.type_url ?? ""), (msg.value as Uint8Array) ?? new Uint8Array()) as Json;
    case "google.protobuf.Duration":
      return durationToJson(msg);
    case "google.protobuf.Timestamp":
      return timestampToJson(msg);
    case "google.protobuf.Struct":
      return structToJson(msg);
    case "google.protobuf.Value":
      return valueToJson(msg);
    case "google.protobuf.ListValue":
      return ((msg.values as Wire[] | undefined) ?? []).map(valueToJson);
    case "google.protobuf.FieldMask":
      return ((msg.paths as string[] | undefined) ?? []).map(lowerCamel).join(",");
  }
  if (name.startsWith("google.protobuf.") && name.endsWith("Value") && type.fields.value) {
    const v = msg.value;
    return scalarToJson(type.fields.value, v ?? type.fields.value.typeDefault);
  }
  const out: Record<string, Json> = {};
  for (const field of type.fieldsArray) {
    const value = msg[field.name];
    if (value === undefined || value === null) continue;
    if (field.map) {
      const entries = Object.entries(value as Record<string, unknown>);
      if (!entries.length) continue;
      out[field.name] = Object.fromEntries(entries.map(([k, v]) => [k, singleToJson(field, v)]));
    } else if (field.repeated) {
      const items = value as unknown[];
      if (!items.length) continue;
      out[field.name] = items.map((v) => singleToJson(field, v));
    } else {
      // Presence: message fields, oneof members and proto3 `optional` are output when set;
      // plain scalars only when they differ from their default.
      const tracksPresence = field.resolvedType instanceof protobuf.Type || field.partOf !== null;
      if (field.partOf && !has(msg, field.name)) continue;
      if (!tracksPresence && isDefault(field, value)) continue;
      out[field.name] = singleToJson(field, value);
    }
  }
  return out;
}

function isDefault(field: protobuf.Field, value: unknown): boolean {
  if (value === 0 || value === false || value === "") return true;
  if (value instanceof Uint8Array) return value.length === 0;
  if (Long.isLong(value)) return value.isZero();
  return field.resolvedType instanceof protobuf.Enum && value === 0;
}

function singleToJson(field: protobuf.Field, value: unknown): Json {
  const resolved = field.resolvedType;
  if (resolved instanceof protobuf.Type) return messageToJson(resolved, value as Wire);
  if (resolved instanceof protobuf.Enum) {
    const n = Number(value);
    return resolved.valuesById[n] ?? n;
  }
  return scalarToJson(field, value);
}

function longText(value: unknown, unsigned: boolean): string {
  if (Long.isLong(value)) {
    const long = value;
    return (unsigned ? long.toUnsigned() : long.toSigned()).toString();
  }
  return String(value);
}

function scalarToJson(field: protobuf.Field, value: unknown): Json {
  const t = field.type;
  if (INT64.has(t)) return longText(value, false);
  if (UINT64.has(t)) return longText(value, true);
  if (t === "bytes") return Buffer.from(value as Uint8Array).toString("base64");
  if (t === "double" || t === "float") {
    const n = Number(value);
    if (Number.isNaN(n)) return "NaN";
    if (!Number.isFinite(n)) return n > 0 ? "Infinity" : "-Infinity";
    return t === "float" ? shortestFloat(n) : n;
  }
  if (typeof value === "number" || typeof value === "boolean" || typeof value === "string") return value;
  return String(value);
}

/** A float32 decoded to a double (0.10000000149...) printed as its shortest float32 form (0.1). */
function shortestFloat(n: number): number {
  for (let precision = 1; precision <= 9; precision++) {
    const candidate = Number(n.toPrecision(precision));
    if (Math.fround(candidate) === n) return candidate;
  }
  return n;
}

function durationToJson(msg: Wire): string {
  const seconds = BigInt(longText(msg.seconds ?? 0, false));
  const nanos = Number(msg.nanos ?? 0);
  const negative = seconds < 0n || nanos < 0;
  const abs = (seconds < 0n ? -seconds : seconds).toString();
  return `${negative ? "-" : ""}${abs}${fraction(Math.abs(nanos))}s`;
}

/** 0, 3, 6 or 9 fractional digits, as the proto3 JSON spec prints them. */
function fraction(nanos: number): string {
  if (nanos === 0) return "";
  const digits = String(nanos).padStart(9, "0");
  if (digits.endsWith("000000")) return `.${digits.slice(0, 3)}`;
  if (digits.endsWith("000")) return `.${digits.slice(0, 6)}`;
  return `.${digits}`;
}

function timestampToJson(msg: Wire): string {
  const seconds = Number(longText(msg.seconds ?? 0, false));
  const nanos = Number(msg.nanos ?? 0);
  const base = new Date(seconds * 1000).toISOString().replace(/\.\d{3}Z$/, "");
  return `${base}${fraction(nanos)}Z`;
}

function structToJson(msg: Wire): Json {
  const fields = (msg.fields as Record<string, Wire> | undefined) ?? {};
  return Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, valueToJson(v)]));
}

function valueToJson(msg: Wire): Json {
  if (has(msg, "numberValue")) return Number(msg.numberValue);
  if (has(msg, "stringValue")) return String(msg.stringValue);
  if (has(msg, "boolValue")) return Boolean(msg.boolValue);
  if (has(msg, "structValue") && msg.structValue) return structToJson(msg.structValue as Wire);
  if (has(msg, "listValue") && msg.listValue) return ((msg.listValue as Wire).values as Wire[] | undefined ?? []).map(valueToJson);
  return null;
}

export { FieldError };
export { TYPE_URL_PREFIX };
