// Parsing config text into resources. Multi-document YAML (JSON is read by the same
// parser, since JSON is YAML) with the position of every field kept, so that a
// diagnostic about `spec.http[0].route[1].weight` can point at its line. Pure: it reads
// only the text it is given; ./files.ts does the reading of files.
import { LineCounter, parseAllDocuments, isMap, isSeq, isScalar, isPair } from "yaml";
import type { Document, Node as YamlNode } from "yaml";
import type { AnyResource, Diagnostic, ObjectMeta, ResourceSource, SourcePosition } from "./types.ts";
import { childPath } from "./paths.ts";
import { lookupKind } from "./kinds-table.ts";

export interface LoadResult {
  resources: AnyResource[];
  diagnostics: Diagnostic[];
}

/** Parses every document of one file's text. Problems become diagnostics; it never throws. */
export function loadText(text: string, file: string): LoadResult {
  const lineCounter = new LineCounter();
  const documents = parseAllDocuments(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const at = (offset: number): SourcePosition => {
    const { line, col } = lineCounter.linePos(offset);
    return { file, line, col };
  };
  const result: LoadResult = { resources: [], diagnostics: [] };
  // parseAllDocuments returns an EmptyStream (an empty array) when there is no document at all.
  const docs = Array.isArray(documents) ? documents : [documents];
  for (const doc of docs) loadDocument(doc, at, result);
  if (result.resources.length === 0 && result.diagnostics.every((d) => d.severity !== "error")) {
    result.diagnostics.push({ severity: "warning", path: "", message: "file has no resources", fix: "add a resource, or leave the file out", file, line: 1, col: 1 });
  }
  return result;
}

function loadDocument(doc: Document.Parsed, at: (offset: number) => SourcePosition, result: LoadResult): void {
  if (doc.errors.length > 0) {
    // A document that does not parse yields nothing: a half-read object would be worse than none.
    for (const err of doc.errors) {
      result.diagnostics.push({ severity: "error", path: "", message: `invalid YAML: ${firstLine(err.message)}`, fix: "fix the YAML syntax", ...at(err.pos[0]) });
    }
    return;
  }
  for (const warning of doc.warnings) {
    result.diagnostics.push({ severity: "warning", path: "", message: `YAML: ${firstLine(warning.message)}`, ...at(warning.pos[0]) });
  }
  const root = doc.contents;
  if (root === null || (isScalar(root) && (root.value === null || root.value === undefined))) return; // empty document: skipped
  const start = at(root.range[0]);
  if (!isMap(root)) {
    const what = isSeq(root) ? "a list" : "a scalar";
    result.diagnostics.push({ severity: "error", path: "", message: `document is ${what}, not an object`, fix: "each YAML document must be one resource with apiVersion, kind and metadata", ...start });
    return;
  }
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 1000 });
  } catch (err) {
    // toJS fails on alias bombs and similar; report, do not crash.
    result.diagnostics.push({ severity: "error", path: "", message: `cannot read document: ${err instanceof Error ? err.message : String(err)}`, ...start });
    return;
  }
  const object = value as Record<string, unknown>;
  const items = root.get("items", true);
  if (object.apiVersion === "v1" && object.kind === "List" && isSeq(items)) {
    // `kubectl get ... -o yaml` prints a List; each item is a resource of its own.
    items.items.forEach((itemNode, index) => {
      const node = itemNode as YamlNode | null;
      const item = (object.items as unknown[])[index];
      if (!node?.range) return;
      if (!isMap(node) || !isObject(item)) {
        result.diagnostics.push({ severity: "error", path: `items[${index}]`, message: "list item is not an object", fix: "each item of a List must be one resource", ...at(node.range[0]) });
        return;
      }
      addResource(node, item, at, result);
    });
    return;
  }
  addResource(root, object, at, result);
}

function addResource(node: YamlNode, value: Record<string, unknown>, at: (offset: number) => SourcePosition, result: LoadResult): void {
  const fields = new Map<string, SourcePosition>();
  collectPositions(node, "", at, fields);
  const source: ResourceSource = { ...at(node.range?.[0] ?? 0), fields };
  const resource = toResource(value, source, result.diagnostics);
  if (resource) result.resources.push(resource);
}

/** Records the position of every field's value under `path`, recursively. */
function collectPositions(node: YamlNode, path: string, at: (offset: number) => SourcePosition, fields: Map<string, SourcePosition>): void {
  if (isMap(node)) {
    for (const pair of node.items) {
      if (!isPair(pair)) continue;
      const key = isScalar(pair.key) ? pair.key.value : undefined;
      if (typeof key !== "string" && typeof key !== "number" && typeof key !== "boolean") continue;
      const childKey = childPath(path, String(key));
      const value = pair.value as YamlNode | null;
      // A key with no value (`hosts:`) still has a position: the key's own.
      const range = value?.range ?? (pair.key as YamlNode | null)?.range;
      if (range) fields.set(childKey, at(range[0]));
      if (value) collectPositions(value, childKey, at, fields);
    }
  } else if (isSeq(node)) {
    node.items.forEach((item, index) => {
      const itemNode = item as YamlNode | null;
      if (!itemNode?.range) return;
      const childKey = childPath(path, index);
      fields.set(childKey, at(itemNode.range[0]));
      collectPositions(itemNode, childKey, at, fields);
    });
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Checks the envelope (apiVersion, kind, metadata.name) and normalizes the version. */
function toResource(value: Record<string, unknown>, source: ResourceSource, diagnostics: Diagnostic[]): AnyResource | undefined {
  const where = (path: string): SourcePosition => {
    const pos = source.fields.get(path);
    return pos ? { ...pos } : { file: source.file, line: source.line, col: source.col };
  };
  const problem = (path: string, message: string, fix: string): undefined => {
    diagnostics.push({
      severity: "error",
      path,
      message,
      fix,
      ...where(path),
      ...(typeof value.kind === "string" ? { kind: value.kind } : {}),
      ...(isObject(value.metadata) && typeof value.metadata.name === "string" ? { name: value.metadata.name } : {}),
      ...(isObject(value.metadata) && typeof value.metadata.namespace === "string" ? { namespace: value.metadata.namespace } : {}),
    });
    return undefined;
  };
  const { apiVersion, kind, metadata } = value;
  if (typeof apiVersion !== "string" || apiVersion === "") {
    return problem(apiVersion === undefined ? "" : "apiVersion", apiVersion === undefined ? "missing apiVersion" : "apiVersion must be a non-empty string", "add e.g. `apiVersion: networking.istio.io/v1`");
  }
  if (typeof kind !== "string" || kind === "") {
    return problem(kind === undefined ? "" : "kind", kind === undefined ? "missing kind" : "kind must be a non-empty string", "add e.g. `kind: VirtualService`");
  }
  const lookup = lookupKind(apiVersion, kind);
  if (!lookup.ok) return problem(lookup.field, lookup.message, lookup.fix);
  if (!isObject(metadata)) {
    return problem(metadata === undefined ? "" : "metadata", metadata === undefined ? "missing metadata" : "metadata must be an object", "add `metadata:` with at least `name:`");
  }
  if (typeof metadata.name !== "string" || metadata.name === "") {
    return problem(metadata.name === undefined ? "metadata" : "metadata.name", metadata.name === undefined ? "missing metadata.name" : "metadata.name must be a non-empty string", "give the resource a name: `metadata: {name: ...}`");
  }
  if (metadata.namespace !== undefined && (typeof metadata.namespace !== "string" || metadata.namespace === "")) {
    return problem("metadata.namespace", "metadata.namespace must be a non-empty string", "give a namespace name or leave the field out");
  }
  if (value.spec !== undefined && value.spec !== null && !isObject(value.spec)) {
    return problem("spec", "spec must be an object", "write the spec as a mapping of fields");
  }
  // The rest of the object (unknown top-level fields, field types inside metadata and spec)
  // is the schema's business: see ./schema.ts. `status` is dropped: it is written by the
  // system, never read from config.
  const resource = {
    apiVersion: lookup.internalApiVersion,
    kind: lookup.info.kind,
    metadata: metadata as unknown as ObjectMeta,
    spec: (value.spec ?? {}) as never,
    originalApiVersion: apiVersion,
    source,
  } as AnyResource;
  rawObjects.set(resource, value);
  return resource;
}

/**
 * The object exactly as read, for schema validation (which must also see fields that
 * the normalized resource drops). Weak, so resources built elsewhere cost nothing.
 */
export const rawObjects = new WeakMap<object, Record<string, unknown>>();

function firstLine(message: string): string {
  return message.split("\n")[0].trim();
}
