// Rendering diagnostics for people (`FILE:LINE:COL Kind namespace/name: field.path: message (fix)`)
// and for tools (JSON), and pointing a diagnostic at the line of the field it is about.
import type { AnyResource, Diagnostic } from "./types.ts";
import { pathAndAncestors } from "./paths.ts";

/** One line for a terminal. Parts that are unknown are left out rather than printed empty. */
export function formatDiagnostic(d: Diagnostic): string {
  let out = "";
  if (d.file !== undefined) {
    out += d.file;
    if (d.line !== undefined) out += `:${d.line}${d.col !== undefined ? `:${d.col}` : ""}`;
    out += " ";
  }
  if (d.severity === "warning") out += "warning: ";
  if (d.kind !== undefined || d.name !== undefined) {
    const name = d.name === undefined ? "" : d.namespace !== undefined ? `${d.namespace}/${d.name}` : d.name;
    out += `${[d.kind, name].filter((part) => part).join(" ")}: `;
  }
  if (d.path) out += `${d.path}: `;
  out += d.message;
  if (d.fix) out += ` (${d.fix})`;
  return out;
}

/** The JSON form for `--output json`: every known field, in a stable order. */
export function diagnosticToJson(d: Diagnostic): Record<string, unknown> {
  const { severity, file, line, col, kind, namespace, name, path, message, fix } = d;
  return Object.fromEntries(Object.entries({ severity, file, line, col, kind, namespace, name, path, message, fix }).filter(([, v]) => v !== undefined));
}

/**
 * Fills in what a check leaves to the caller: the resource's kind, namespace and name,
 * and the file position of the field (or of its nearest ancestor that the file has, since
 * a missing field has no line of its own). Fields the diagnostic already has are kept.
 */
export function locateDiagnostic(d: Diagnostic, resource: AnyResource): Diagnostic {
  const out: Diagnostic = { ...d };
  out.kind ??= resource.kind;
  out.name ??= resource.metadata.name;
  if (out.namespace === undefined && resource.metadata.namespace !== undefined) out.namespace = resource.metadata.namespace;
  const source = resource.source;
  if (source && out.line === undefined) {
    let pos = { file: source.file, line: source.line, col: source.col };
    for (const candidate of pathAndAncestors(d.path)) {
      const found = source.fields.get(candidate);
      if (found) {
        pos = found;
        break;
      }
    }
    out.file ??= pos.file;
    out.line = pos.line;
    out.col = pos.col;
  }
  return out;
}

/** Errors before warnings would lose file order; instead: by file, line, column, then errors first. */
export function sortDiagnostics(diagnostics: readonly Diagnostic[]): Diagnostic[] {
  return [...diagnostics].sort(
    (a, b) =>
      (a.file ?? "").localeCompare(b.file ?? "") ||
      (a.line ?? 0) - (b.line ?? 0) ||
      (a.col ?? 0) - (b.col ?? 0) ||
      (a.severity === b.severity ? 0 : a.severity === "error" ? -1 : 1),
  );
}
