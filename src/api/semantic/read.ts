// Defensive readers. Semantic checks run even when schema validation already found
// problems, so a field may hold any JSON value; these return undefined (or an empty
// list) for a value of the wrong type instead of throwing, and the schema's own
// diagnostic tells the user about the type.

export type Obj = Record<string, unknown>;

export function obj(value: unknown): Obj | undefined {
  return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Obj) : undefined;
}

export function list(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

export function str(value: unknown): string | undefined {
  return typeof value === "string" ? value : undefined;
}

export function num(value: unknown): number | undefined {
  return typeof value === "number" && Number.isFinite(value) ? value : undefined;
}

/** The string entries of a string→string map (labels, selectors), skipping wrong types. */
export function stringMap(value: unknown): [string, unknown][] {
  const o = obj(value);
  return o ? Object.entries(o) : [];
}

/** Present means: the key exists with a value other than null/undefined. */
export function has(o: Obj | undefined, key: string): boolean {
  return o !== undefined && o[key] !== undefined && o[key] !== null;
}
