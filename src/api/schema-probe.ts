// Finding unknown fields by asking a validator. The validators generated from Istio's and
// Kubernetes' schemas check the fields a schema names but pass over any others. Still,
// a field the schema names *is* checked: give it a value of the wrong type and the
// validator complains at exactly that field. So, for each object in a resource, every key
// is given a wrong-typed value (first `true`, then `{}`, since no type accepts both) and a
// key the validator never complains about is one the schema does not know.
//
// A made-up key is probed alongside: if the validator complains about it too, the object
// is a map (labels, headers), whose keys are the user's to choose.
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { childPath, joinPath, type PathSegment } from "./paths.ts";
import { closestName } from "./kinds-table.ts";

/** An error as ajv (and the validators generated with it) reports it. */
export interface SchemaError {
  instancePath: string;
  schemaPath: string;
  keyword: string;
  params: Record<string, unknown>;
  message?: string;
  parentSchema?: { properties?: Record<string, unknown> };
}

/** Validates a whole object; returns its errors, none when it is valid. */
export type RawValidate = (data: unknown) => SchemaError[];

export interface UnknownField {
  path: string;
  key: string;
  suggestion?: string;
}

const PROBE_KEY = "skiff-probe-not-a-field";
const PROBES: readonly unknown[] = [true, {}];

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Decodes a JSON pointer (`/spec/http/0`) into its segments, unescaped. */
export function pointerSegments(pointer: string): string[] {
  if (pointer === "") return [];
  return pointer
    .slice(1)
    .split("/")
    .map((s) => s.replace(/~1/g, "/").replace(/~0/g, "~"));
}

function at(root: unknown, segments: readonly PathSegment[]): unknown {
  let node = root;
  for (const s of segments) node = (node as Record<string | number, unknown>)[s];
  return node;
}

/** Keys of the object at `segments` that the validator complains about when given `probe`. */
function checkedKeys(data: unknown, segments: readonly PathSegment[], keys: readonly string[], probe: unknown, validate: RawValidate): Set<string> {
  const copy = structuredClone(data);
  const target = at(copy, segments) as Record<string, unknown>;
  for (const key of keys) target[key] = structuredClone(probe);
  const flagged = new Set<string>();
  for (const err of validate(copy)) {
    const p = pointerSegments(err.instancePath);
    if (p.length === segments.length + 1 && segments.every((s, i) => String(s) === p[i])) flagged.add(p[p.length - 1]);
  }
  return flagged;
}

/** Every field of `data` that its schema does not name, with a likely intended name where one is close. */
export function findUnknownFields(data: unknown, validate: RawValidate, schemaModules: readonly { pkg: string; file: string }[]): UnknownField[] {
  const out: UnknownField[] = [];
  // A value of the wrong type (an object where a list belongs) is already an error; the
  // fields inside it are not fields of anything the schema knows, so they are not probed.
  const wrongType = new Set(validate(data).filter((e) => e.keyword === "type").map((e) => e.instancePath));
  const pointer = (segments: readonly PathSegment[]): string => segments.map((s) => `/${String(s).replace(/~/g, "~0").replace(/\//g, "~1")}`).join("");
  // Depth-first over the data itself; bounded by its size.
  const walk = (node: unknown, segments: PathSegment[]): void => {
    if (wrongType.has(pointer(segments))) return;
    if (Array.isArray(node)) {
      node.forEach((item, i) => walk(item, [...segments, i]));
      return;
    }
    if (!isObject(node)) return;
    const keys = Object.keys(node);
    if (keys.length === 0) return;
    const known = new Set<string>();
    for (const probe of PROBES) for (const key of checkedKeys(data, segments, [...keys, PROBE_KEY], probe, validate)) known.add(key);
    const isMap = known.has(PROBE_KEY);
    for (const key of keys) {
      if (isMap || known.has(key)) {
        walk(node[key], [...segments, key]);
        continue;
      }
      const unknown: UnknownField = { path: childPath(joinPath(segments), key), key };
      const suggestion = suggest(data, segments, key, keys, validate, schemaModules);
      if (suggestion) unknown.suggestion = suggestion;
      out.push(unknown);
    }
  };
  walk(data, []);
  return out;
}

/** The known field at this place in the object whose name is closest to `key`, if any is close. */
function suggest(
  data: unknown,
  segments: readonly PathSegment[],
  key: string,
  present: readonly string[],
  validate: RawValidate,
  schemaModules: readonly { pkg: string; file: string }[],
): string | undefined {
  // Candidates come from every field name in the kind's schema; the probe then keeps
  // those that are fields of this very object.
  let candidates = [...fieldVocabulary(schemaModules)].filter((name) => !present.includes(name));
  const found: string[] = [];
  // Up to a few rounds, each taking the closest remaining name: a handful of probes at most.
  for (let round = 0; round < 5 && candidates.length > 0; round++) {
    const best = closestName(key, candidates);
    if (!best) break;
    candidates = candidates.filter((c) => c !== best);
    const flagged = new Set<string>();
    for (const probe of PROBES) for (const k of checkedKeys(data, segments, [best], probe, validate)) flagged.add(k);
    if (flagged.has(best)) found.push(best);
    if (found.length > 0) break;
  }
  return found[0];
}

const vocabularies = new Map<string, Set<string>>();

/**
 * Field names that appear in the generated validators' source (`data.fieldName`,
 * `missingProperty:"fieldName"`), following their imports of other schema modules.
 * Only a source of candidates for hints, each checked by probing before it is shown,
 * so a name found here that is not a field does no harm. Unreadable sources give none.
 */
function fieldVocabulary(schemaModules: readonly { pkg: string; file: string }[]): Set<string> {
  const cacheKey = schemaModules.map((m) => `${m.pkg}/${m.file}`).join(",");
  const cached = vocabularies.get(cacheKey);
  if (cached) return cached;
  const names = new Set<string>();
  const seen = new Set<string>();
  const queue: string[] = [];
  for (const m of schemaModules) {
    const dir = packageDir(m.pkg);
    if (dir) queue.push(join(dir, m.file));
  }
  // Bounded: each module is read once, and at most a few hundred in all.
  while (queue.length > 0 && seen.size < 400) {
    const file = queue.shift() as string;
    if (seen.has(file)) continue;
    seen.add(file);
    let source: string;
    try {
      source = readFileSync(file, "utf8");
    } catch {
      continue;
    }
    for (const m of source.matchAll(/\bdata\d*\.([A-Za-z_$][\w$]*)/g)) names.add(m[1]);
    for (const m of source.matchAll(/missingProperty:"([^"]+)"/g)) names.add(m[1]);
    for (const m of source.matchAll(/from"(\.\/[^"]+|@kubernetes-models\/[^"/]+\/_schemas\/[^"]+)"/g)) {
      const spec = m[1];
      if (spec.startsWith("./")) queue.push(join(dirname(file), spec));
      else {
        const [scope, name, ...rest] = spec.split("/");
        const dir = packageDir(`${scope}/${name}`);
        if (dir) queue.push(join(dir, `${rest.join("/")}${spec.endsWith(".js") ? "" : ".js"}`));
      }
    }
  }
  vocabularies.set(cacheKey, names);
  return names;
}

function packageDir(pkg: string): string | undefined {
  try {
    return dirname(fileURLToPath(import.meta.resolve(pkg)));
  } catch {
    return undefined;
  }
}
