// The shapes every room shares for config: a loaded resource, where it came from,
// and a diagnostic about it. Specs for each kind live in ./kinds.ts.
import type { KindSpecs } from "./kinds.ts";

/** 1-based line and column in a source file. */
export interface SourcePosition {
  file: string;
  line: number;
  col: number;
}

/**
 * Where an object was loaded from. `fields` maps a field path of the object
 * (`spec.http[0].route[1].weight`, `metadata.name`) to the position of that field's
 * value, so that a diagnostic about a field can point at its line.
 */
export interface ResourceSource extends SourcePosition {
  fields: ReadonlyMap<string, SourcePosition>;
}

export interface ObjectMeta {
  name: string;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  /** Assigned by the config store; increases on every change of the object. */
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
}

export type KindName = keyof KindSpecs;

/**
 * One normalized resource. `apiVersion` is the internal (newest) version of the kind;
 * `originalApiVersion` is what the file said, kept so output can round-trip.
 */
export interface Resource<K extends KindName = KindName> {
  apiVersion: string;
  kind: K;
  metadata: ObjectMeta;
  spec: KindSpecs[K];
  originalApiVersion?: string;
  source?: ResourceSource;
}

/** Any resource: a union discriminated on `kind`, so `r.kind === "Gateway"` narrows `r.spec`. */
export type AnyResource = { [K in KindName]: Resource<K> }[KindName];

export type Severity = "error" | "warning";

/**
 * A problem found in config. Rendered as
 * `FILE:LINE:COL Kind namespace/name: field.path: message (fix)`.
 */
export interface Diagnostic {
  severity: Severity;
  /** Field path inside the object, e.g. `spec.http[0].route`; empty for the whole object or file. */
  path: string;
  message: string;
  /** What the user should do about it, when there is something to say. */
  fix?: string;
  file?: string;
  line?: number;
  col?: number;
  kind?: string;
  namespace?: string;
  name?: string;
}

/** Key of an object in the store and in messages: `Kind/namespace/name`. */
export function resourceKey(kind: string, namespace: string | undefined, name: string): string {
  return `${kind}/${namespace ?? ""}/${name}`;
}
