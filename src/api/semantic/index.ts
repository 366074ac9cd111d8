// Semantic validation: the checks Istio's own validation makes beyond the schema
// (hosts, weights, regexes with RE2 semantics, durations, ...). Pure: it reads the
// resources it is given and nothing else.
import type { AnyResource, Diagnostic } from "../types.ts";

/** What a check may know beyond the resource itself, e.g. to warn about unknown hosts. */
export interface ValidationContext {
  /** Every resource loaded together with this one (all files of one `validate` run). */
  all: readonly AnyResource[];
  /** DNS domain of services; `cluster.local` by default. */
  domain: string;
}

/**
 * Returns every semantic problem of one resource. Paths are field paths inside the
 * object (`spec.http[0].route`); position, kind and name are filled in by the caller.
 */
export function validateSemantics(_resource: AnyResource, _context: ValidationContext): Diagnostic[] {
  return []; // filled in by the semantic validation work of issue 2
}
