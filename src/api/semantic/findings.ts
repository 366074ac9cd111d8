// The collector every check writes into: one place that builds Diagnostics so that
// each check only says where (a field path), what is wrong, and what to do.
import type { Diagnostic } from "../types.ts";
import { childPath, type PathSegment } from "../paths.ts";

export class Findings {
  readonly list: Diagnostic[] = [];

  error(path: string, message: string, fix?: string): void {
    this.list.push(withFix({ severity: "error", path, message }, fix));
  }

  warn(path: string, message: string, fix?: string): void {
    this.list.push(withFix({ severity: "warning", path, message }, fix));
  }
}

function withFix(d: Diagnostic, fix: string | undefined): Diagnostic {
  return fix === undefined ? d : { ...d, fix };
}

/** `at("spec.http", 0, "route")` → `spec.http[0].route`: the one spelling the loader uses for positions. */
export function at(base: string, ...segments: PathSegment[]): string {
  return segments.reduce<string>((path, segment) => childPath(path, segment), base);
}
