// Envoy's MetadataMatcher (type.matcher.v3.MetadataMatcher) and ValueMatcher, compiled
// once into closures. RBAC uses them to read what earlier filters left in the request's
// dynamic metadata — above all the verified JWT payload that jwt_authn stores, which is
// how Istio's requestPrincipals and request.auth.claims[] conditions are enforced.
import { ConfigError, arr, num, obj, onlyFields, str } from "../json.ts";
import { compileStringMatcher } from "../string-match.ts";

/** Dynamic metadata of one request: filter name → a JSON object (protobuf Struct). */
export type DynamicMetadata = Record<string, Record<string, unknown>> | undefined;

export type MetadataPredicate = (metadata: DynamicMetadata) => boolean;

type ValuePredicate = (value: unknown) => boolean;

/** Envoy's ValueMatcher: exactly one of the match kinds; a missing value matches nothing. */
export function compileValueMatcher(value: unknown, path: string): ValuePredicate {
  const o = obj(value);
  if (!o) throw new ConfigError(path, "expected a ValueMatcher object");
  onlyFields(o, path, ["null_match", "double_match", "string_match", "bool_match", "present_match", "list_match", "or_match"]);
  const kinds = Object.keys(o);
  if (kinds.length !== 1) throw new ConfigError(path, `a ValueMatcher needs exactly one match kind, got ${kinds.length === 0 ? "none" : kinds.join(", ")}`);
  if (o.null_match !== undefined) return (v) => v === null;
  if (o.double_match !== undefined) {
    const d = obj(o.double_match) ?? {};
    onlyFields(d, `${path}.double_match`, ["range", "exact"]);
    const exact = num(d.exact);
    if (exact !== undefined) return (v) => typeof v === "number" && v === exact;
    const range = obj(d.range);
    if (!range) throw new ConfigError(`${path}.double_match`, "needs range or exact");
    onlyFields(range, `${path}.double_match.range`, ["start", "end"]);
    const start = num(range.start) ?? 0;
    const end = num(range.end) ?? 0;
    // Envoy's DoubleRange: start inclusive, end exclusive.
    return (v) => typeof v === "number" && v >= start && v < end;
  }
  if (o.string_match !== undefined) {
    const test = compileStringMatcher(o.string_match, `${path}.string_match`);
    return (v) => typeof v === "string" && test(v);
  }
  if (o.bool_match !== undefined) {
    const want = o.bool_match === true;
    return (v) => typeof v === "boolean" && v === want;
  }
  if (o.present_match !== undefined) {
    // Envoy: true only when the path names a value; present_match:false never matches.
    const want = o.present_match === true;
    return (v) => want && v !== undefined;
  }
  if (o.list_match !== undefined) {
    const l = obj(o.list_match) ?? {};
    onlyFields(l, `${path}.list_match`, ["one_of"]);
    if (l.one_of === undefined) throw new ConfigError(`${path}.list_match.one_of`, "is required");
    const one = compileValueMatcher(l.one_of, `${path}.list_match.one_of`);
    return (v) => Array.isArray(v) && v.some(one);
  }
  const or = obj(o.or_match) ?? {};
  onlyFields(or, `${path}.or_match`, ["value_matchers"]);
  const list = arr(or.value_matchers).map((m, i) => compileValueMatcher(m, `${path}.or_match.value_matchers[${i}]`));
  if (list.length < 2) throw new ConfigError(`${path}.or_match.value_matchers`, "needs at least two matchers");
  return (v) => list.some((m) => m(v));
}

/** Follow `path` keys into the filter's metadata; undefined when any step is missing. */
function lookup(metadata: DynamicMetadata, filter: string, keys: readonly string[]): unknown {
  let cur: unknown = metadata?.[filter];
  for (const k of keys) {
    const o = obj(cur);
    if (!o || !Object.prototype.hasOwnProperty.call(o, k)) return undefined;
    cur = o[k];
  }
  return cur;
}

/** Envoy's MetadataMatcher {filter, path[{key}], value, invert}. */
export function compileMetadataMatcher(value: unknown, path: string): MetadataPredicate {
  const o = obj(value);
  if (!o) throw new ConfigError(path, "expected a MetadataMatcher object");
  onlyFields(o, path, ["filter", "path", "value", "invert"]);
  const filter = str(o.filter);
  if (!filter) throw new ConfigError(`${path}.filter`, "is required (the filter whose metadata to read)");
  const keys = arr(o.path).map((seg, i) => {
    onlyFields(seg, `${path}.path[${i}]`, ["key"]);
    const key = str(seg.key);
    if (!key) throw new ConfigError(`${path}.path[${i}].key`, "is required");
    return key;
  });
  if (keys.length === 0) throw new ConfigError(`${path}.path`, "needs at least one key");
  if (o.value === undefined) throw new ConfigError(`${path}.value`, "is required");
  const test = compileValueMatcher(o.value, `${path}.value`);
  const invert = o.invert === true;
  return (metadata) => test(lookup(metadata, filter, keys)) !== invert;
}

/** Merge `values` into the request's metadata under `filter` (creating both as needed). */
export function setDynamicMetadata(holder: { dynamicMetadata: DynamicMetadata }, filter: string, values: Record<string, unknown>): void {
  const all = (holder.dynamicMetadata ??= {});
  all[filter] = { ...all[filter], ...values };
}
