// A RouteConfiguration compiled for fast matching: virtual hosts indexed by domain
// (Envoy's precedence), routes as predicate lists, regexes compiled once. Compiling is
// also the validation pass for RDS: any field the router does not implement throws a
// ConfigError with its path, which the xDS client turns into a NACK.
import { RE2JS } from "re2js";
import { ConfigError, arr, durationMs, fraction, num, obj, onlyFields, str, type Json } from "./json.ts";
import { compileHeaderMatcher, compileRegex, compileSafeRegex, literalPrefix, compileStringMatcher, type HeaderLookup, type HeaderPredicate, type StringPredicate } from "./string-match.ts";
import { compileHeaderMutation, type HeaderMutation } from "./header-mutation.ts";

/** What a route match looks at. `path` excludes the query string. */
export interface MatchInput {
  path: string;
  query: string;
  header: HeaderLookup;
}

export interface RetryPolicy {
  retryOn: ReadonlySet<string>;
  numRetries: number;
  perTryTimeoutMs: number | undefined;
  retriableStatusCodes: ReadonlySet<number>;
  previousHosts: boolean;
  hostSelectionRetryMaxAttempts: number;
  baseIntervalMs: number;
  maxIntervalMs: number;
}

export interface WeightedCluster {
  name: string;
  weight: number;
  requestHeaders: HeaderMutation;
  responseHeaders: HeaderMutation;
}

export interface MirrorPolicy {
  cluster: string;
  /** 0..1 */
  fraction: number;
}

export type HashPolicy =
  | { kind: "header"; name: string; terminal: boolean }
  | { kind: "cookie"; name: string; terminal: boolean }
  | { kind: "sourceIp"; terminal: boolean }
  | { kind: "queryParameter"; name: string; terminal: boolean };

export interface ClusterAction {
  kind: "cluster";
  cluster: string | undefined;
  weighted: readonly WeightedCluster[] | undefined;
  totalWeight: number;
  prefixRewrite: string | undefined;
  regexRewrite: { pattern: RE2JS; substitution: string } | undefined;
  hostRewrite: string | undefined;
  /** 0 disables the timeout (Envoy semantics); Envoy's default is 15 s. */
  timeoutMs: number;
  retry: RetryPolicy | undefined;
  mirrors: readonly MirrorPolicy[];
  hashPolicies: readonly HashPolicy[];
}

export interface RedirectAction {
  kind: "redirect";
  scheme: string | undefined;
  host: string | undefined;
  port: number | undefined;
  path: string | undefined;
  prefixRewrite: string | undefined;
  regexRewrite: { pattern: RE2JS; substitution: string } | undefined;
  status: number;
  stripQuery: boolean;
}

export interface DirectAction {
  kind: "direct";
  status: number;
  body: string | undefined;
}

export type RouteActionKind = ClusterAction | RedirectAction | DirectAction;

export interface CompiledRoute {
  name: string;
  /** For prefix rewrites: the part of the path that matched. */
  prefix: string | undefined;
  matchPath: string | undefined;
  matches(input: MatchInput): boolean;
  action: RouteActionKind;
  requestHeaders: HeaderMutation;
  responseHeaders: HeaderMutation;
  perFilterConfig: Json;
}

export interface CompiledVirtualHost {
  name: string;
  routes: readonly CompiledRoute[];
  requestHeaders: HeaderMutation;
  responseHeaders: HeaderMutation;
  cors: Json | undefined;
  perFilterConfig: Json;
  retry: RetryPolicy | undefined;
}

const redirectCodes: Record<string, number> = {
  MOVED_PERMANENTLY: 301,
  FOUND: 302,
  SEE_OTHER: 303,
  TEMPORARY_REDIRECT: 307,
  PERMANENT_REDIRECT: 308,
};

export const supportedRetryOn = new Set([
  "5xx",
  "gateway-error",
  "connect-failure",
  "reset",
  "refused-stream",
  "retriable-status-codes",
  "retriable-4xx",
  // gRPC status based (read from grpc-status)
  "cancelled",
  "deadline-exceeded",
  "internal",
  "resource-exhausted",
  "unavailable",
]);

function envoySubstitution(s: string): string {
  // Envoy (RE2) writes capture groups as \1; re2js's JS mode wants $1.
  return s.replace(/\$/g, "$$$$").replace(/\\(\d)/g, "$$$1");
}

function compileRegexRewrite(value: unknown, path: string): { pattern: RE2JS; substitution: string } | undefined {
  const o = obj(value);
  if (!o) return undefined;
  onlyFields(o, path, ["pattern", "substitution"]);
  return { pattern: compileSafeRegex(o.pattern, `${path}.pattern`), substitution: envoySubstitution(str(o.substitution) ?? "") };
}

export function compileRetryPolicy(value: unknown, path: string): RetryPolicy | undefined {
  const o = obj(value);
  if (!o) return undefined;
  onlyFields(
    o,
    path,
    ["retry_on", "num_retries", "per_try_timeout", "retriable_status_codes", "retry_host_predicate", "host_selection_retry_max_attempts", "retry_back_off"],
    [],
  );
  const retryOn = new Set(
    (str(o.retry_on) ?? "")
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean),
  );
  for (const cond of retryOn) {
    if (!supportedRetryOn.has(cond)) throw new ConfigError(`${path}.retry_on`, `retry condition "${cond}" is not implemented`);
  }
  let previousHosts = false;
  arr(o.retry_host_predicate).forEach((p, i) => {
    const name = str(p.name);
    if (name === "envoy.retry_host_predicates.previous_hosts") previousHosts = true;
    else throw new ConfigError(`${path}.retry_host_predicate[${i}].name`, `retry host predicate "${name}" is not implemented`);
  });
  const backOff = obj(o.retry_back_off) ?? {};
  onlyFields(backOff, `${path}.retry_back_off`, ["base_interval", "max_interval"]);
  const base = durationMs(backOff.base_interval) ?? 25;
  return {
    retryOn,
    numRetries: num(o.num_retries) ?? 1,
    perTryTimeoutMs: durationMs(o.per_try_timeout) || undefined,
    retriableStatusCodes: new Set(arr(o.retriable_status_codes).map((c) => Number(c))),
    previousHosts,
    hostSelectionRetryMaxAttempts: num(o.host_selection_retry_max_attempts) ?? 1,
    baseIntervalMs: base,
    maxIntervalMs: durationMs(backOff.max_interval) ?? base * 10,
  };
}

function compileHashPolicies(value: unknown, path: string): HashPolicy[] {
  return arr(value).map((h, i) => {
    const p = `${path}[${i}]`;
    onlyFields(h, p, ["header", "cookie", "connection_properties", "query_parameter", "terminal"]);
    const terminal = h.terminal === true;
    const header = obj(h.header);
    if (header) {
      onlyFields(header, `${p}.header`, ["header_name"]);
      return { kind: "header", name: String(header.header_name).toLowerCase(), terminal };
    }
    const cookie = obj(h.cookie);
    if (cookie) {
      // ttl/path generate a cookie when absent in Envoy; not implemented.
      onlyFields(cookie, `${p}.cookie`, ["name"]);
      return { kind: "cookie", name: String(cookie.name), terminal };
    }
    const conn = obj(h.connection_properties);
    if (conn) return { kind: "sourceIp", terminal };
    const query = obj(h.query_parameter);
    if (query) return { kind: "queryParameter", name: String(query.name), terminal };
    throw new ConfigError(p, "hash policy needs header, cookie, connection_properties or query_parameter");
  });
}

function compileClusterAction(r: Json, path: string, vhostRetry: RetryPolicy | undefined): ClusterAction {
  onlyFields(
    r,
    path,
    [
      "cluster",
      "weighted_clusters",
      "prefix_rewrite",
      "regex_rewrite",
      "host_rewrite_literal",
      "timeout",
      "retry_policy",
      "request_mirror_policies",
      "hash_policy",
      "max_stream_duration",
    ],
    ["cluster_not_found_response_code"],
  );
  // Istio emits max_stream_duration with zero values (= disabled); anything else changes behaviour.
  const msd = obj(r.max_stream_duration);
  if (msd) {
    onlyFields(msd, `${path}.max_stream_duration`, ["max_stream_duration", "grpc_timeout_header_max"]);
    if ((durationMs(msd.max_stream_duration) ?? 0) !== 0)
      throw new ConfigError(`${path}.max_stream_duration.max_stream_duration`, "a non-zero max stream duration is not implemented");
  }
  let weighted: WeightedCluster[] | undefined;
  let totalWeight = 0;
  const wc = obj(r.weighted_clusters);
  if (wc) {
    onlyFields(wc, `${path}.weighted_clusters`, ["clusters", "total_weight"]);
    weighted = arr(wc.clusters).map((c, i) => {
      const p = `${path}.weighted_clusters.clusters[${i}]`;
      onlyFields(c, p, ["name", "weight", "request_headers_to_add", "request_headers_to_remove", "response_headers_to_add", "response_headers_to_remove"]);
      return {
        name: String(c.name),
        weight: num(c.weight) ?? 0,
        requestHeaders: compileHeaderMutation(c.request_headers_to_add, c.request_headers_to_remove, p, "request_headers_to_add"),
        responseHeaders: compileHeaderMutation(c.response_headers_to_add, c.response_headers_to_remove, p, "response_headers_to_add"),
      };
    });
    const sum = weighted.reduce((s, c) => s + c.weight, 0);
    totalWeight = num(wc.total_weight) ?? sum;
    if (sum === 0) throw new ConfigError(`${path}.weighted_clusters`, "cluster weights sum to zero");
  } else if (typeof r.cluster !== "string") {
    throw new ConfigError(path, "route action needs cluster or weighted_clusters (cluster_header is not implemented)");
  }
  const mirrors: MirrorPolicy[] = arr(r.request_mirror_policies).map((m, i) => {
    const p = `${path}.request_mirror_policies[${i}]`;
    onlyFields(m, p, ["cluster", "runtime_fraction", "trace_sampled"]);
    const rf = obj(m.runtime_fraction);
    return { cluster: String(m.cluster), fraction: rf ? fraction(rf.default_value) : 1 };
  });
  const timeout = durationMs(r.timeout);
  return {
    kind: "cluster",
    cluster: str(r.cluster),
    weighted,
    totalWeight,
    prefixRewrite: str(r.prefix_rewrite),
    regexRewrite: compileRegexRewrite(r.regex_rewrite, `${path}.regex_rewrite`),
    hostRewrite: str(r.host_rewrite_literal),
    timeoutMs: timeout === undefined ? 15_000 : timeout,
    retry: compileRetryPolicy(r.retry_policy, `${path}.retry_policy`) ?? vhostRetry,
    mirrors,
    hashPolicies: compileHashPolicies(r.hash_policy, `${path}.hash_policy`),
  };
}

function compileRedirect(r: Json, path: string): RedirectAction {
  onlyFields(r, path, ["https_redirect", "scheme_redirect", "host_redirect", "port_redirect", "path_redirect", "prefix_rewrite", "regex_rewrite", "response_code", "strip_query"]);
  const code = r.response_code === undefined ? 301 : redirectCodes[String(r.response_code)];
  if (code === undefined) throw new ConfigError(`${path}.response_code`, `unknown redirect response code ${String(r.response_code)}`);
  return {
    kind: "redirect",
    scheme: r.https_redirect === true ? "https" : str(r.scheme_redirect),
    host: str(r.host_redirect),
    port: num(r.port_redirect),
    path: str(r.path_redirect),
    prefixRewrite: str(r.prefix_rewrite),
    regexRewrite: compileRegexRewrite(r.regex_rewrite, `${path}.regex_rewrite`),
    status: code,
    stripQuery: r.strip_query === true,
  };
}

function compileDirect(r: Json, path: string): DirectAction {
  onlyFields(r, path, ["status", "body"]);
  const body = obj(r.body);
  if (body) onlyFields(body, `${path}.body`, ["inline_string", "inline_bytes"]);
  const text = body ? (str(body.inline_string) ?? (typeof body.inline_bytes === "string" ? Buffer.from(body.inline_bytes, "base64").toString() : undefined)) : undefined;
  const status = num(r.status);
  if (status === undefined || status < 100 || status > 599) throw new ConfigError(`${path}.status`, "direct_response needs a status between 100 and 599");
  return { kind: "direct", status, body: text };
}

function parseQuery(query: string): Map<string, string> {
  const out = new Map<string, string>();
  if (!query) return out;
  for (const part of query.split("&")) {
    if (!part) continue;
    const eq = part.indexOf("=");
    const key = eq < 0 ? part : part.slice(0, eq);
    const val = eq < 0 ? "" : part.slice(eq + 1);
    let k = key;
    let v = val;
    try {
      k = decodeURIComponent(key.replace(/\+/g, " "));
      v = decodeURIComponent(val.replace(/\+/g, " "));
    } catch {
      // keep raw on malformed escapes, as Envoy matches the raw value then
    }
    if (!out.has(k)) out.set(k, v);
  }
  return out;
}

function compileRoute(r: Json, path: string, vhostRetry: RetryPolicy | undefined): CompiledRoute {
  onlyFields(
    r,
    path,
    ["match", "route", "redirect", "direct_response", "request_headers_to_add", "request_headers_to_remove", "response_headers_to_add", "response_headers_to_remove", "typed_per_filter_config"],
    ["name", "metadata", "decorator"],
  );
  const m = obj(r.match);
  if (!m) throw new ConfigError(`${path}.match`, "route needs a match");
  const mp = `${path}.match`;
  onlyFields(m, mp, ["prefix", "path", "safe_regex", "path_separated_prefix", "case_sensitive", "headers", "query_parameters"], []);
  const caseSensitive = m.case_sensitive !== false;
  const fold = (s: string): string => (caseSensitive ? s : s.toLowerCase());
  let pathTest: (p: string) => boolean;
  let prefix: string | undefined;
  let matchPath: string | undefined;
  if (typeof m.prefix === "string") {
    prefix = m.prefix;
    const want = fold(m.prefix);
    pathTest = (p) => fold(p).startsWith(want);
  } else if (typeof m.path === "string") {
    matchPath = m.path;
    const want = fold(m.path);
    pathTest = (p) => fold(p) === want;
  } else if (typeof m.path_separated_prefix === "string") {
    prefix = m.path_separated_prefix;
    const want = fold(m.path_separated_prefix);
    pathTest = (p) => {
      const f = fold(p);
      return f === want || f.startsWith(`${want}/`);
    };
  } else if (m.safe_regex !== undefined) {
    const re = compileSafeRegex(m.safe_regex, `${mp}.safe_regex`);
    const literal = literalPrefix(String(obj(m.safe_regex)!.regex));
    pathTest = literal ? (p) => p.startsWith(literal) && re.matches(p) : (p) => re.matches(p);
  } else {
    throw new ConfigError(mp, "route match needs prefix, path, path_separated_prefix or safe_regex");
  }
  const headerTests: HeaderPredicate[] = arr(m.headers).map((h, i) => compileHeaderMatcher(h, `${mp}.headers[${i}]`));
  const queryTests = arr(m.query_parameters).map((q, i) => {
    const p = `${mp}.query_parameters[${i}]`;
    onlyFields(q, p, ["name", "string_match", "present_match"]);
    const name = String(q.name);
    const test: StringPredicate | undefined = q.string_match !== undefined ? compileStringMatcher(q.string_match, `${p}.string_match`) : undefined;
    return (params: Map<string, string>) => {
      const v = params.get(name);
      if (test) return v !== undefined && test(v);
      return v !== undefined;
    };
  });

  const matches = (input: MatchInput): boolean => {
    if (!pathTest(input.path)) return false;
    for (const t of headerTests) if (!t(input.header)) return false;
    if (queryTests.length > 0) {
      const params = parseQuery(input.query);
      for (const t of queryTests) if (!t(params)) return false;
    }
    return true;
  };

  let action: RouteActionKind;
  if (obj(r.route)) action = compileClusterAction(obj(r.route)!, `${path}.route`, vhostRetry);
  else if (obj(r.redirect)) action = compileRedirect(obj(r.redirect)!, `${path}.redirect`);
  else if (obj(r.direct_response)) action = compileDirect(obj(r.direct_response)!, `${path}.direct_response`);
  else throw new ConfigError(path, "route needs route, redirect or direct_response");

  return {
    name: str(r.name) ?? "",
    prefix,
    matchPath,
    matches,
    action,
    requestHeaders: compileHeaderMutation(r.request_headers_to_add, r.request_headers_to_remove, path, "request_headers_to_add"),
    responseHeaders: compileHeaderMutation(r.response_headers_to_add, r.response_headers_to_remove, path, "response_headers_to_add"),
    perFilterConfig: obj(r.typed_per_filter_config) ?? {},
  };
}

function compileVirtualHost(v: Json, path: string): CompiledVirtualHost {
  onlyFields(
    v,
    path,
    ["name", "domains", "routes", "request_headers_to_add", "request_headers_to_remove", "response_headers_to_add", "response_headers_to_remove", "cors", "typed_per_filter_config", "retry_policy"],
    ["include_request_attempt_count", "include_attempt_count_in_response"],
  );
  if (v.require_tls !== undefined) throw new ConfigError(`${path}.require_tls`, "not implemented");
  const retry = compileRetryPolicy(v.retry_policy, `${path}.retry_policy`);
  return {
    name: str(v.name) ?? "",
    routes: arr(v.routes).map((r, i) => compileRoute(r, `${path}.routes[${i}]`, retry)),
    requestHeaders: compileHeaderMutation(v.request_headers_to_add, v.request_headers_to_remove, path, "request_headers_to_add"),
    responseHeaders: compileHeaderMutation(v.response_headers_to_add, v.response_headers_to_remove, path, "response_headers_to_add"),
    cors: obj(v.cors),
    perFilterConfig: obj(v.typed_per_filter_config) ?? {},
    retry,
  };
}

/**
 * Envoy's domain precedence: exact names, then `*.suffix` wildcards (longest suffix
 * first), then `prefix*` wildcards (longest prefix first), then `*`. Matching is
 * case-insensitive; a wildcard must match at least one character.
 */
class DomainIndex {
  private readonly exact = new Map<string, CompiledVirtualHost>();
  private readonly suffixes: { suffix: string; vhost: CompiledVirtualHost }[] = [];
  private readonly prefixes: { prefix: string; vhost: CompiledVirtualHost }[] = [];
  private catchAll: CompiledVirtualHost | undefined;

  add(domain: string, vhost: CompiledVirtualHost, path: string): void {
    const d = domain.toLowerCase();
    const clash = (): never => {
      throw new ConfigError(path, `domain "${domain}" appears in more than one virtual host`);
    };
    if (d === "*") {
      if (this.catchAll) clash();
      this.catchAll = vhost;
    } else if (d.startsWith("*")) {
      if (this.suffixes.some((s) => s.suffix === d.slice(1))) clash();
      this.suffixes.push({ suffix: d.slice(1), vhost });
    } else if (d.endsWith("*")) {
      if (this.prefixes.some((s) => s.prefix === d.slice(0, -1))) clash();
      this.prefixes.push({ prefix: d.slice(0, -1), vhost });
    } else {
      if (this.exact.has(d)) clash();
      this.exact.set(d, vhost);
    }
  }

  finish(): void {
    this.suffixes.sort((a, b) => b.suffix.length - a.suffix.length);
    this.prefixes.sort((a, b) => b.prefix.length - a.prefix.length);
  }

  find(host: string): CompiledVirtualHost | undefined {
    const exact = this.exact.get(host);
    if (exact) return exact;
    for (const s of this.suffixes) if (host.length > s.suffix.length && host.endsWith(s.suffix)) return s.vhost;
    for (const p of this.prefixes) if (host.length > p.prefix.length && host.startsWith(p.prefix)) return p.vhost;
    return this.catchAll;
  }
}

export class RouteTable {
  readonly name: string;
  readonly virtualHosts: readonly CompiledVirtualHost[];
  readonly requestHeaders: HeaderMutation;
  readonly responseHeaders: HeaderMutation;
  /** Every cluster a route names (for warming). */
  readonly referencedClusters: ReadonlySet<string>;
  private readonly domains = new DomainIndex();
  private readonly stripAnyPort: boolean;
  private readonly vhostCache = new Map<string, CompiledVirtualHost | null>();

  constructor(json: Json) {
    onlyFields(
      json,
      "",
      ["name", "virtual_hosts", "request_headers_to_add", "request_headers_to_remove", "response_headers_to_add", "response_headers_to_remove", "ignore_port_in_host_matching"],
      ["validate_clusters", "max_direct_response_body_size_bytes"],
    );
    this.name = str(json.name) ?? "";
    this.stripAnyPort = json.ignore_port_in_host_matching === true;
    this.virtualHosts = arr(json.virtual_hosts).map((v, i) => compileVirtualHost(v, `virtual_hosts[${i}]`));
    arr(json.virtual_hosts).forEach((v, i) => {
      for (const d of arr(v.domains)) this.domains.add(String(d), this.virtualHosts[i], `virtual_hosts[${i}].domains`);
    });
    this.domains.finish();
    this.requestHeaders = compileHeaderMutation(json.request_headers_to_add, json.request_headers_to_remove, "", "request_headers_to_add");
    this.responseHeaders = compileHeaderMutation(json.response_headers_to_add, json.response_headers_to_remove, "", "response_headers_to_add");
    const clusters = new Set<string>();
    for (const v of this.virtualHosts)
      for (const r of v.routes) {
        if (r.action.kind !== "cluster") continue;
        if (r.action.cluster) clusters.add(r.action.cluster);
        for (const w of r.action.weighted ?? []) clusters.add(w.name);
        for (const m of r.action.mirrors) clusters.add(m.cluster);
      }
    this.referencedClusters = clusters;
  }

  /**
   * The virtual host for a Host/:authority value. Like Envoy, the port is part of the
   * match unless the HCM says strip_any_host_port (or the route config says
   * ignore_port_in_host_matching). Cached: hosts repeat, so this stays O(1).
   */
  selectVirtualHost(authority: string, stripAnyHostPort = false): CompiledVirtualHost | undefined {
    let host = authority.toLowerCase();
    if (this.stripAnyPort || stripAnyHostPort) host = stripPort(host);
    const cached = this.vhostCache.get(host);
    if (cached !== undefined) return cached ?? undefined;
    const found = this.domains.find(host);
    // Bound the cache: arbitrary Host headers must not grow memory without limit.
    if (this.vhostCache.size > 4096) this.vhostCache.clear();
    this.vhostCache.set(host, found ?? null);
    return found;
  }

  /** First route that matches wins. */
  selectRoute(vhost: CompiledVirtualHost, input: MatchInput): CompiledRoute | undefined {
    for (const r of vhost.routes) if (r.matches(input)) return r;
    return undefined;
  }
}

export function stripPort(host: string): string {
  if (host.startsWith("[")) {
    const end = host.indexOf("]");
    return end > 0 ? host.slice(0, end + 1) : host;
  }
  const colon = host.lastIndexOf(":");
  return colon > 0 && /^\d+$/.test(host.slice(colon + 1)) ? host.slice(0, colon) : host;
}

/** Apply a route's path rewrite (prefix_rewrite or regex_rewrite) to a path without query. */
export function rewritePath(
  path: string,
  route: CompiledRoute,
  prefixRewrite: string | undefined,
  regexRewrite: { pattern: RE2JS; substitution: string } | undefined,
): string {
  if (prefixRewrite !== undefined) {
    const matched = route.prefix ?? route.matchPath;
    if (matched !== undefined) return prefixRewrite + path.slice(matched.length);
    return path;
  }
  if (regexRewrite) return regexRewrite.pattern.matcher(path).replaceAll(regexRewrite.substitution);
  return path;
}

export { compileRegex };
