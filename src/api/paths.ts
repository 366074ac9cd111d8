// Field paths: the one spelling every room uses to name a field inside an object,
// `spec.http[0].route[1].weight`. Keys that are not plain identifiers (label keys such as
// `app.kubernetes.io/name`, header names) are quoted, `metadata.labels["app.kubernetes.io/name"]`,
// so that a path always parses back into the same segments.

export type PathSegment = string | number;

const PLAIN_KEY = /^[A-Za-z_][A-Za-z0-9_-]*$/;

/** Appends one segment to a path: a number is an index, a string a key. */
export function childPath(parent: string, segment: PathSegment): string {
  if (typeof segment === "number") return `${parent}[${segment}]`;
  if (PLAIN_KEY.test(segment)) return parent === "" ? segment : `${parent}.${segment}`;
  return `${parent}[${JSON.stringify(segment)}]`;
}

/** Builds a path from its segments: `["spec", "hosts", 0]` → `spec.hosts[0]`. */
export function joinPath(segments: readonly PathSegment[]): string {
  return segments.reduce<string>((path, segment) => childPath(path, segment), "");
}

// One segment at a time, anchored (sticky) so that nothing between segments is skipped.
const SEGMENT = /(?:^|\.)([A-Za-z_][A-Za-z0-9_-]*)|\[(\d+)\]|\[("(?:[^"\\]|\\.)*")\]/y;

/** Splits a path into segments; returns undefined when it is not a well-formed path. */
export function splitPath(path: string): PathSegment[] | undefined {
  const segments: PathSegment[] = [];
  SEGMENT.lastIndex = 0;
  while (SEGMENT.lastIndex < path.length) {
    const match = SEGMENT.exec(path);
    if (!match) return undefined;
    if (match[1] !== undefined) segments.push(match[1]);
    else if (match[2] !== undefined) segments.push(Number(match[2]));
    else segments.push(JSON.parse(match[3]) as string);
  }
  return segments;
}

/**
 * The path itself and then each ancestor, nearest first, ending with "" (the object):
 * `spec.hosts[0]` → `spec.hosts[0]`, `spec.hosts`, `spec`, "".
 */
export function pathAndAncestors(path: string): string[] {
  const segments = splitPath(path);
  if (!segments) return [path, ""];
  const out: string[] = [];
  for (let n = segments.length; n >= 0; n--) out.push(joinPath(segments.slice(0, n)));
  return out;
}
