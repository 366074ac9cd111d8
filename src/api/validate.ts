// Validating loaded resources: the schema first, then the semantic checks (./semantic/),
// with every diagnostic located at its file, line and column.
import type { AnyResource, Diagnostic } from "./types.ts";
import { validateSchema } from "./schema.ts";
import { validateSemantics } from "./semantic/index.ts";
import { locateDiagnostic } from "./format.ts";

export interface ValidateOptions {
  /** DNS domain of services; `cluster.local` by default. */
  domain?: string;
}

/** Every problem of the given resources, each with kind, namespace, name and position filled in. */
export function validateResources(resources: readonly AnyResource[], opts: ValidateOptions = {}): Diagnostic[] {
  const context = { all: resources, domain: opts.domain ?? "cluster.local" };
  const out: Diagnostic[] = [];
  for (const resource of resources) {
    const schemaProblems = guarded(resource, "schema", () => validateSchema(resource));
    for (const d of schemaProblems) out.push(locateDiagnostic(d, resource));
    // Semantic checks assume the shapes the schema promises; on a resource that breaks
    // the schema they would only repeat the problem in stranger words, or trip over it.
    if (schemaProblems.some((d) => d.severity === "error")) continue;
    for (const d of guarded(resource, "semantic", () => validateSemantics(resource, context))) out.push(locateDiagnostic(d, resource));
  }
  return out;
}

/**
 * A check that throws is a bug in Skiff, not in the user's config; it still must not end
 * a whole validation run in a stack trace, so it becomes one error on the resource.
 */
function guarded(resource: AnyResource, what: string, check: () => Diagnostic[]): Diagnostic[] {
  try {
    return check();
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    return [{ severity: "error", path: "", message: `internal error in ${what} validation: ${message}`, fix: `please report this as a Skiff bug, with the ${resource.kind}` }];
  }
}
