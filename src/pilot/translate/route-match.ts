// Istio HTTPMatchRequest → Envoy RouteMatch, and the rules that decide whether a match
// applies to this proxy at all (port, sourceLabels, sourceNamespace, gateways). Those
// rules are Istio's: a match that does not apply is dropped; a route whose every match is
// dropped is dropped with it.
import type { HTTPMatchRequest, L4MatchAttributes, StringMatch } from "../../api/kinds.ts";
import type { EnvoyJson } from "./types.ts";
import { sortedEntries } from "./envoy-json.ts";

/** Who the routes are built for: the proxy and the listener or gateway server. */
export interface MatchScope {
  /** Port of the route configuration being built (service port, or gateway server port). */
  port: number;
  proxyLabels: Record<string, string>;
  proxyNamespace: string;
  /**
   * Gateways the routes are for, fully qualified: `["mesh"]` for sidecars, `["ns/name", ...]`
   * for a gateway's listener.
   */
  gateways: readonly string[];
}

/** A gateway reference in a VirtualService (`name`, `ns/name`, `mesh`) made fully qualified. */
export function qualifyGateway(ref: string, vsNamespace: string): string {
  if (ref === "mesh" || ref.includes("/")) return ref;
  // Istio also accepts `name.namespace`; normalise it to `namespace/name`.
  const dot = ref.indexOf(".");
  if (dot > 0) return `${ref.slice(dot + 1)}/${ref.slice(0, dot)}`;
  return `${vsNamespace}/${ref}`;
}

function labelsContain(have: Record<string, string>, want: Record<string, string> | undefined): boolean {
  return Object.entries(want ?? {}).every(([key, value]) => have[key] === value);
}

/** Does this match apply to the proxy/listener in scope? (Istio's sourceLabels, port, gateways.) */
export function matchApplies(
  match: HTTPMatchRequest | L4MatchAttributes,
  scope: MatchScope,
  vsNamespace: string,
): boolean {
  if (match.port !== undefined && match.port !== scope.port) return false;
  if (!labelsContain(scope.proxyLabels, match.sourceLabels)) return false;
  if (match.sourceNamespace !== undefined && match.sourceNamespace !== scope.proxyNamespace) return false;
  if (match.gateways && match.gateways.length > 0) {
    const wanted = match.gateways.map((g) => qualifyGateway(g, vsNamespace));
    if (!wanted.some((g) => scope.gateways.includes(g))) return false;
  }
  return true;
}

/** Istio StringMatch → Envoy StringMatcher; undefined when the match is empty (presence only). */
export function stringMatcher(match: StringMatch | undefined, ignoreCase = false): EnvoyJson | undefined {
  if (!match) return undefined;
  const out: EnvoyJson = {};
  if (match.exact !== undefined) out.exact = match.exact;
  else if (match.prefix !== undefined) out.prefix = match.prefix;
  else if (match.regex !== undefined) out.safe_regex = regexMatcher(match.regex);
  else return undefined;
  if (ignoreCase) out.ignore_case = true;
  return out;
}

export function regexMatcher(regex: string): EnvoyJson {
  return { google_re2: {}, regex };
}

function headerMatcher(name: string, match: StringMatch | undefined, invert: boolean): EnvoyJson {
  const out: EnvoyJson = { name };
  const matcher = stringMatcher(match);
  if (matcher) out.string_match = matcher;
  else out.present_match = true;
  if (invert) out.invert_match = true;
  return out;
}

function lowerCaseKeys<V>(record: Record<string, V> | undefined): Record<string, V> {
  const out: Record<string, V> = {};
  for (const [key, value] of Object.entries(record ?? {})) out[key.toLowerCase()] = value;
  return out;
}

/** The Envoy RouteMatch for one Istio match (or the catch-all when there is none). */
export function translateRouteMatch(match: HTTPMatchRequest | undefined): EnvoyJson {
  const out: EnvoyJson = {};
  const uri = match?.uri;
  if (uri?.exact !== undefined) out.path = uri.exact;
  else if (uri?.prefix !== undefined) out.prefix = uri.prefix;
  else if (uri?.regex !== undefined) out.safe_regex = regexMatcher(uri.regex);
  else out.prefix = "/";
  if (match?.ignoreUriCase) out.case_sensitive = false;

  const headers: EnvoyJson[] = [];
  // Istio header names are lower case on the wire (HTTP/2); Envoy compares names that way.
  for (const [name, value] of sortedEntries(lowerCaseKeys(match?.headers))) {
    headers.push(headerMatcher(name, value, false));
  }
  for (const [name, value] of sortedEntries(lowerCaseKeys(match?.withoutHeaders))) {
    headers.push(headerMatcher(name, value, true));
  }
  if (match?.method) headers.push(headerMatcher(":method", match.method, false));
  if (match?.authority) headers.push(headerMatcher(":authority", match.authority, false));
  if (match?.scheme) headers.push(headerMatcher(":scheme", match.scheme, false));
  if (headers.length > 0) out.headers = headers;

  const query: EnvoyJson[] = [];
  for (const [name, value] of sortedEntries(match?.queryParams)) {
    const matcher = stringMatcher(value);
    query.push(matcher ? { name, string_match: matcher } : { name, present_match: true });
  }
  if (query.length > 0) out.query_parameters = query;
  return out;
}
