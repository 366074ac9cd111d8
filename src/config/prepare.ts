// What every source does to resources before they reach the store: give namespaced
// objects without a namespace the source's default one, and validate. Shared so that
// files and `skiff apply` behave the same.
import { kindInfo, validateResources } from "../api/index.ts";
import type { AnyResource, Diagnostic } from "../api/index.ts";

/**
 * Sets the default namespace on namespaced objects that have none, in place. Callers
 * pass objects they own (fresh from the loader, or copies): the loader's raw-object
 * bookkeeping for schema checks shares `metadata`, so this must happen before validation.
 */
export function applyDefaultNamespace(resources: readonly AnyResource[], defaultNamespace: string): void {
  for (const r of resources) {
    const namespaced = kindInfo(r.kind)?.namespaced ?? true;
    if (namespaced && !r.metadata.namespace) r.metadata.namespace = defaultNamespace;
    // A cluster-scoped object (Namespace) has no namespace, whatever the file said.
    if (!namespaced && r.metadata.namespace !== undefined) delete r.metadata.namespace;
  }
}

/** validateResources, but a crash in a check becomes a diagnostic instead of taking the source down. */
export function validateSafely(resources: readonly AnyResource[], domain: string | undefined): Diagnostic[] {
  try {
    return validateResources(resources, domain ? { domain } : {});
  } catch (err) {
    return [
      {
        severity: "error",
        path: "",
        message: `validation failed internally: ${err instanceof Error ? err.message : String(err)}`,
        fix: "this is a Skiff bug; please report it with the file that triggered it",
      },
    ];
  }
}

export function hasErrors(diagnostics: readonly Diagnostic[]): boolean {
  return diagnostics.some((d) => d.severity === "error");
}
