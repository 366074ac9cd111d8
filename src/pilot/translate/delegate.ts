// Delegate VirtualServices (Istio's route delegation): a root route `{match, delegate:
// {name, namespace}}` hands its traffic to the http routes of another VirtualService
// (one without hosts). Each delegate route's matches are merged with the root's; a
// pair that cannot both hold (a delegate uri outside the root's prefix, the same header
// with different values, ...) is dropped, as Istio does.
import type { HTTPMatchRequest, StringMatch } from "../../api/kinds.ts";

function sameMatch(a: StringMatch | undefined, b: StringMatch | undefined): boolean {
  return JSON.stringify(a ?? null) === JSON.stringify(b ?? null);
}

/** The delegate's uri must narrow the root's: inside its prefix, or the same exact path. */
function mergeUri(root: StringMatch | undefined, sub: StringMatch | undefined): StringMatch | undefined | null {
  if (!root) return sub;
  if (!sub) return root;
  if (root.prefix !== undefined) {
    if (sub.prefix !== undefined && sub.prefix.startsWith(root.prefix)) return sub;
    if (sub.exact !== undefined && sub.exact.startsWith(root.prefix)) return sub;
    return null;
  }
  return sameMatch(root, sub) ? sub : null;
}

function mergeRecord<V>(root: Record<string, V> | undefined, sub: Record<string, V> | undefined): Record<string, V> | undefined | null {
  if (!root) return sub;
  if (!sub) return root;
  const out: Record<string, V> = { ...root };
  for (const [key, value] of Object.entries(sub)) {
    if (key in out && JSON.stringify(out[key]) !== JSON.stringify(value)) return null;
    out[key] = value;
  }
  return out;
}

function mergeScalar<T>(root: T | undefined, sub: T | undefined): T | undefined | null {
  if (root === undefined) return sub;
  if (sub === undefined) return root;
  return JSON.stringify(root) === JSON.stringify(sub) ? root : null;
}

/** One root match and one delegate match as a single match; null when they conflict. */
export function mergeMatch(root: HTTPMatchRequest, sub: HTTPMatchRequest): HTTPMatchRequest | null {
  const merged: HTTPMatchRequest = {};
  const uri = mergeUri(root.uri, sub.uri);
  const headers = mergeRecord(root.headers, sub.headers);
  const withoutHeaders = mergeRecord(root.withoutHeaders, sub.withoutHeaders);
  const queryParams = mergeRecord(root.queryParams, sub.queryParams);
  const sourceLabels = mergeRecord(root.sourceLabels, sub.sourceLabels);
  const scheme = mergeScalar(root.scheme, sub.scheme);
  const method = mergeScalar(root.method, sub.method);
  const authority = mergeScalar(root.authority, sub.authority);
  const port = mergeScalar(root.port, sub.port);
  const sourceNamespace = mergeScalar(root.sourceNamespace, sub.sourceNamespace);
  const parts = { uri, headers, withoutHeaders, queryParams, sourceLabels, scheme, method, authority, port, sourceNamespace };
  for (const [key, value] of Object.entries(parts)) {
    if (value === null) return null;
    if (value !== undefined) (merged as Record<string, unknown>)[key] = value;
  }
  const name = [root.name, sub.name].filter((n) => n !== undefined && n !== "").join(".");
  if (name !== "") merged.name = name;
  // The root decides which gateways the delegation is for.
  const gateways = root.gateways ?? sub.gateways;
  if (gateways) merged.gateways = gateways;
  if (root.ignoreUriCase || sub.ignoreUriCase) merged.ignoreUriCase = true;
  return merged;
}

/**
 * The matches a delegate route gets under a root route: every compatible pair; the
 * root's alone when the delegate route has none, and the delegate's when the root has
 * none. An empty list means the delegate route is unreachable under this root.
 */
export function delegatedMatches(
  rootMatches: readonly HTTPMatchRequest[] | undefined,
  subMatches: readonly HTTPMatchRequest[] | undefined,
): (HTTPMatchRequest | undefined)[] {
  const roots = rootMatches && rootMatches.length > 0 ? rootMatches : undefined;
  const subs = subMatches && subMatches.length > 0 ? subMatches : undefined;
  if (!roots && !subs) return [undefined];
  if (!roots) return [...(subs ?? [])];
  if (!subs) return [...roots];
  const out: HTTPMatchRequest[] = [];
  for (const root of roots) {
    for (const sub of subs) {
      const merged = mergeMatch(root, sub);
      if (merged) out.push(merged);
    }
  }
  return out;
}
