// A compact descriptor of the Envoy types Skiff uses, cached as protobufjs JSON.
//
// Parsing the .proto files costs every process (each sidecar, the control plane) ~0.5-1 s
// and a burst of garbage, and leaves more in the heap than the codec needs: every type
// of every imported file (validate rules, annotations, descriptor.proto, ...), each
// field's options (protoc-gen-validate rules mostly) and the comments, which as V8
// substrings keep the whole text of their .proto file alive. So the first process parses
// them once and writes a pruned JSON descriptor: every type except those of the packages
// that only annotate the protos (validate, udpa/xds/envoy annotations, descriptor.proto)
// unless a field needs them, with only the options that change the wire format or JSON
// (packed, proto3_optional, default), and no comments. Later processes
// load that JSON. test/envoy/descriptor.test.ts checks it describes every kept type field
// for field as the .proto files do.
import protobuf from "protobufjs";

/** Options the codec or protobufjs' encoder read; every other option is dropped. */
const KEPT_OPTIONS = new Set(["packed", "proto3_optional", "default"]);

type Json = Record<string, unknown>;

/**
 * Packages that only annotate the .proto files (validation rules, API-status markers,
 * descriptor.proto itself): their types are kept only if some field reaches them. Every
 * other type stays, since an Any may hold any of them (config_dump's, extension configs).
 */
const ANNOTATION_PACKAGES = [".validate.", ".udpa.annotations.", ".xds.annotations.", ".envoy.annotations.", ".google.api."];

/** The pruned JSON of `root`: every type but the annotation packages', plus what fields reach. */
export function prunedDescriptor(root: protobuf.Root): Json {
  const keep = reachableFrom(seeds(root));
  return emit(root, keep) ?? {};
}

function seeds(root: protobuf.Root): protobuf.ReflectionObject[] {
  const out: protobuf.ReflectionObject[] = [];
  const walk = (ns: protobuf.Namespace): void => {
    for (const child of ns.nestedArray) {
      const definition = child instanceof protobuf.Type || child instanceof protobuf.Enum || child instanceof protobuf.Service;
      const annotation = ANNOTATION_PACKAGES.some((p) => child.fullName.startsWith(p)) || (child.filename ?? "").endsWith("google/protobuf/descriptor.proto");
      if (definition && !annotation) out.push(child);
      if (child instanceof protobuf.Namespace) walk(child);
    }
  };
  walk(root);
  return out;
}

function reachableFrom(start: protobuf.ReflectionObject[]): Set<protobuf.ReflectionObject> {
  const keep = new Set<protobuf.ReflectionObject>();
  const queue: protobuf.ReflectionObject[] = [];
  const visit = (o: protobuf.ReflectionObject | null | undefined): void => {
    if (o && !keep.has(o)) {
      keep.add(o);
      queue.push(o);
    }
  };
  start.forEach(visit);
  while (queue.length) {
    const o = queue.pop()!;
    // A nested type is written inside its parent message, so the parent comes too.
    if (o.parent instanceof protobuf.Type) visit(o.parent);
    if (o instanceof protobuf.Type) {
      for (const f of o.fieldsArray) visit(f.resolvedType);
      for (const n of o.nestedArray) if (n instanceof protobuf.Type || n instanceof protobuf.Enum) visit(n);
    } else if (o instanceof protobuf.Service) {
      for (const m of o.methodsArray) {
        visit(m.resolvedRequestType);
        visit(m.resolvedResponseType);
      }
    }
  }
  return keep;
}

/** A namespace's JSON holding only kept definitions (extensions and empty packages dropped). */
function emit(ns: protobuf.Namespace, keep: Set<protobuf.ReflectionObject>): Json | undefined {
  const nested: Json = {};
  for (const child of ns.nestedArray) {
    if (child instanceof protobuf.Type || child instanceof protobuf.Enum || child instanceof protobuf.Service) {
      if (keep.has(child)) nested[child.name] = strip(child.toJSON() as unknown as Json);
    } else if (child instanceof protobuf.Namespace) {
      const j = emit(child, keep);
      if (j) nested[child.name] = j;
    }
  }
  return Object.keys(nested).length ? { nested } : undefined;
}

/** Drops options (except KEPT_OPTIONS) and per-value enum options, recursively through fields, nested types, methods and oneofs. */
function strip(d: Json): Json {
  if (d.options && typeof d.options === "object") {
    const kept = Object.fromEntries(Object.entries(d.options as Json).filter(([k]) => KEPT_OPTIONS.has(k)));
    if (Object.keys(kept).length) d.options = kept;
    else delete d.options;
  }
  delete d.valuesOptions;
  delete d.comments;
  delete d.comment;
  for (const container of ["fields", "nested", "methods", "oneofs"]) {
    const c = d[container];
    if (c && typeof c === "object") for (const v of Object.values(c as Json)) if (v && typeof v === "object" && !Array.isArray(v)) strip(v as Json);
  }
  return d;
}
