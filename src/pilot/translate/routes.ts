// VirtualService HTTP routes → Envoy routes, and the route configurations built from them.
// The action half of Istio's route translation: destinations and weights, redirects,
// direct responses, rewrites, timeouts, retries, faults, mirrors, header operations, CORS
// and consistent-hash policies. Matching lives in route-match.ts.
import type {
  CorsPolicy,
  Destination,
  HTTPFaultInjection,
  HTTPMatchRequest,
  HTTPRetry,
  HTTPRoute,
  HTTPRouteDestination,
  HeaderOperations,
  Headers,
} from "../../api/kinds.ts";
import type { Resource } from "../../api/types.ts";
import type { MeshService } from "../../registry/types.ts";
import type { EnvoyJson } from "./types.ts";
import type { MatchScope } from "./route-match.ts";
import { matchApplies, regexMatcher, stringMatcher, translateRouteMatch } from "./route-match.ts";
import { delegatedMatches } from "./delegate.ts";
import {
  EnvoyType,
  FilterName,
  SpecialCluster,
  durationSeconds,
  percentToFractional,
  sortedEntries,
  toEnvoyDuration,
  typed,
  wholePercent,
} from "./envoy-json.ts";

/** What route building needs from the push context, kept narrow so gateways and proxyless reuse it. */
export interface RouteScope extends MatchScope {
  /** Resolve a host written in a resource of `namespace` to its FQDN (short names, `name.ns`). */
  resolveHost(host: string, namespace: string): string;
  /** The visible service with this hostname, if any. */
  findService(hostname: string): MeshService | undefined;
  /** Envoy route hash_policy entries from the DestinationRule of host/subset/port, if any. */
  hashPolicy(hostname: string, subset: string | undefined, port: number): EnvoyJson[] | undefined;
  /** Records a translation problem against a config object (`Kind/ns/name`). */
  problem(resource: string, message: string): void;
  /** A VirtualService by namespace and name, for delegation (absent: delegation unsupported). */
  findVirtualService?(namespace: string, name: string, fromNamespace: string): Resource<"VirtualService"> | undefined;
}

export function outboundClusterName(port: number, subset: string | undefined, hostname: string): string {
  return `outbound|${port}|${subset ?? ""}|${hostname}`;
}

/** Istio's retry policy when a route says nothing about retries. */
export function defaultRetryPolicy(): EnvoyJson {
  return {
    retry_on: "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes",
    num_retries: 2,
    retry_host_predicate: [previousHostsPredicate()],
    host_selection_retry_max_attempts: "5",
    retriable_status_codes: [503],
  };
}

function previousHostsPredicate(): EnvoyJson {
  return { name: FilterName.previousHosts, typed_config: typed(EnvoyType.previousHosts) };
}

/**
 * Istio HTTPRetry → Envoy RetryPolicy. `attempts: 0` disables retries (no policy at all);
 * numeric entries of retryOn become retriable_status_codes, as Istio splits them.
 */
export function translateRetryPolicy(retries: HTTPRetry | undefined): EnvoyJson | undefined {
  if (!retries) return defaultRetryPolicy();
  if (retries.attempts === 0) return undefined;
  const policy = defaultRetryPolicy();
  if (retries.attempts !== undefined) policy.num_retries = retries.attempts;
  if (retries.retryOn !== undefined) {
    const conditions: string[] = [];
    const codes: number[] = [];
    for (const token of retries.retryOn.split(",").map((t) => t.trim()).filter((t) => t !== "")) {
      if (/^\d+$/.test(token)) codes.push(Number(token));
      else if (!conditions.includes(token)) conditions.push(token);
    }
    if (codes.length > 0 && !conditions.includes("retriable-status-codes")) conditions.push("retriable-status-codes");
    policy.retry_on = conditions.join(",");
    if (codes.length > 0) policy.retriable_status_codes = codes;
    else delete policy.retriable_status_codes;
  }
  if (retries.perTryTimeout !== undefined) {
    const perTry = toEnvoyDuration(retries.perTryTimeout);
    if (perTry) policy.per_try_timeout = perTry;
  }
  if (retries.retryIgnorePreviousHosts === false) delete policy.retry_host_predicate;
  if (retries.backoff !== undefined) {
    const base = toEnvoyDuration(retries.backoff);
    if (base) policy.retry_back_off = { base_interval: base };
  }
  return policy;
}

const grpcCodes: Record<string, number> = {
  OK: 0, CANCELLED: 1, UNKNOWN: 2, INVALID_ARGUMENT: 3, DEADLINE_EXCEEDED: 4, NOT_FOUND: 5,
  ALREADY_EXISTS: 6, PERMISSION_DENIED: 7, RESOURCE_EXHAUSTED: 8, FAILED_PRECONDITION: 9,
  ABORTED: 10, OUT_OF_RANGE: 11, UNIMPLEMENTED: 12, INTERNAL: 13, UNAVAILABLE: 14,
  DATA_LOSS: 15, UNAUTHENTICATED: 16,
};

function faultPercentage(percentage: { value?: number } | undefined, percent?: number): EnvoyJson {
  if (percentage?.value !== undefined) return percentToFractional(percentage.value);
  if (percent !== undefined) return wholePercent(percent);
  // Istio: no percentage means every request.
  return wholePercent(100);
}

/** Istio HTTPFaultInjection → envoy.filters.http.fault per-route config (HTTPFault). */
export function translateFault(fault: HTTPFaultInjection, report: (message: string) => void): EnvoyJson | undefined {
  const out: EnvoyJson = {};
  if (fault.delay) {
    if (fault.delay.fixedDelay !== undefined) {
      const fixed = toEnvoyDuration(fault.delay.fixedDelay);
      if (fixed) out.delay = { fixed_delay: fixed, percentage: faultPercentage(fault.delay.percentage, fault.delay.percent) };
    } else if (fault.delay.exponentialDelay !== undefined) {
      report("fault.delay.exponentialDelay is not supported (Istio does not support it either); use fixedDelay");
    }
  }
  if (fault.abort) {
    const abort: EnvoyJson = {};
    if (fault.abort.httpStatus !== undefined) abort.http_status = fault.abort.httpStatus;
    else if (fault.abort.grpcStatus !== undefined) {
      const code = grpcCodes[fault.abort.grpcStatus.toUpperCase()] ?? Number(fault.abort.grpcStatus);
      if (Number.isInteger(code)) abort.grpc_status = code;
      else report(`fault.abort.grpcStatus "${fault.abort.grpcStatus}" is not a gRPC status name or number`);
    } else if (fault.abort.http2Error !== undefined) {
      report("fault.abort.http2Error is not supported; use httpStatus or grpcStatus");
    }
    if (Object.keys(abort).length > 0) {
      abort.percentage = faultPercentage(fault.abort.percentage);
      out.abort = abort;
    }
  }
  if (Object.keys(out).length === 0) return undefined;
  return typed(EnvoyType.fault, out);
}

/** Istio CorsPolicy → envoy.filters.http.cors per-route CorsPolicy. */
export function translateCors(cors: CorsPolicy): EnvoyJson {
  const origins: EnvoyJson[] = [];
  for (const origin of cors.allowOrigin ?? []) origins.push({ exact: origin });
  for (const origin of cors.allowOrigins ?? []) {
    const matcher = stringMatcher(origin);
    if (matcher) origins.push(matcher);
  }
  const out: EnvoyJson = {};
  if (origins.length > 0) out.allow_origin_string_match = origins;
  if (cors.allowMethods?.length) out.allow_methods = cors.allowMethods.join(",");
  if (cors.allowHeaders?.length) out.allow_headers = cors.allowHeaders.join(",");
  if (cors.exposeHeaders?.length) out.expose_headers = cors.exposeHeaders.join(",");
  if (cors.maxAge !== undefined) {
    const seconds = durationSeconds(cors.maxAge);
    if (seconds !== undefined) out.max_age = String(seconds);
  }
  if (cors.allowCredentials !== undefined) out.allow_credentials = cors.allowCredentials;
  if (cors.unmatchedPreflights === "IGNORE") out.forward_not_matching_preflights = false;
  // Istio enables the policy for every request; the filter itself is in every HTTP chain.
  out.filter_enabled = { default_value: wholePercent(100) };
  return typed(EnvoyType.corsPolicy, out);
}

/** Header operations → the four Envoy lists; `set` overwrites, `add` appends. */
function headerMutations(ops: HeaderOperations | undefined, into: EnvoyJson, direction: "request" | "response"): void {
  if (!ops) return;
  const add: EnvoyJson[] = [];
  for (const [key, value] of sortedEntries(ops.set)) {
    add.push({ header: { key, value }, append_action: "OVERWRITE_IF_EXISTS_OR_ADD" });
  }
  for (const [key, value] of sortedEntries(ops.add)) {
    add.push({ header: { key, value }, append_action: "APPEND_IF_EXISTS_OR_ADD" });
  }
  // Appends: a route can get operations from both its destination and itself.
  const addKey = `${direction}_headers_to_add`;
  const removeKey = `${direction}_headers_to_remove`;
  if (add.length > 0) into[addKey] = [...((into[addKey] as EnvoyJson[] | undefined) ?? []), ...add];
  if (ops.remove?.length) into[removeKey] = [...((into[removeKey] as string[] | undefined) ?? []), ...ops.remove];
}

export function applyHeaders(headers: Headers | undefined, into: EnvoyJson): void {
  headerMutations(headers?.request, into, "request");
  headerMutations(headers?.response, into, "response");
}

const redirectCodes: Record<number, string> = {
  301: "MOVED_PERMANENTLY",
  302: "FOUND",
  303: "SEE_OTHER",
  307: "TEMPORARY_REDIRECT",
  308: "PERMANENT_REDIRECT",
};

/** The port a destination without an explicit port goes to (Istio's rule). */
function destinationPort(destination: Destination, service: MeshService | undefined, listenerPort: number): number {
  if (destination.port?.number !== undefined) return destination.port.number;
  if (service && service.ports.length === 1) return service.ports[0].port;
  return listenerPort;
}

interface ResolvedDestination {
  cluster: string;
  hostname: string;
  subset: string | undefined;
  port: number;
}

function resolveDestination(
  destination: Destination,
  vs: Resource<"VirtualService">,
  scope: RouteScope,
  what: string,
): ResolvedDestination {
  const namespace = vs.metadata.namespace ?? "default";
  const hostname = scope.resolveHost(destination.host, namespace);
  const service = scope.findService(hostname);
  if (!service) {
    scope.problem(
      vsKey(vs),
      `${what}: destination host "${destination.host}" is not a known or visible service; requests will get 503 (no cluster). Fix the host or add a Service/ServiceEntry.`,
    );
  }
  const port = destinationPort(destination, service, scope.port);
  return { cluster: outboundClusterName(port, destination.subset, hostname), hostname, subset: destination.subset, port };
}

export function vsKey(vs: Resource<"VirtualService">): string {
  return `VirtualService/${vs.metadata.namespace ?? "default"}/${vs.metadata.name}`;
}

/** The `route` action (weighted destinations and everything that rides with them). */
function routeAction(
  http: HTTPRoute,
  destinations: HTTPRouteDestination[],
  vs: Resource<"VirtualService">,
  scope: RouteScope,
  where: string,
  routeOut: EnvoyJson,
): EnvoyJson | undefined {
  // Istio drops zero-weight destinations when there are others to carry the traffic.
  const live = destinations.length > 1 ? destinations.filter((d) => d.weight !== 0) : destinations;
  if (live.length === 0) {
    scope.problem(vsKey(vs), `${where}.route: every destination has weight 0; the route is skipped. Give one a weight.`);
    return undefined;
  }
  const resolved = live.map((d, i) => resolveDestination(d.destination, vs, scope, `${where}.route[${i}]`));
  const action: EnvoyJson = {};
  if (live.length === 1) {
    action.cluster = resolved[0].cluster;
    // A single destination's header operations apply to the whole route.
    applyHeaders(live[0].headers, routeOut);
  } else {
    // Envoy rejects weighted clusters whose weights sum to 0: without weights, split evenly.
    const unweighted = live.every((d) => !d.weight);
    if (unweighted) {
      scope.problem(vsKey(vs), `${where}.route: several destinations and no weights; traffic is split evenly. Give each destination a weight (they should sum to 100).`);
    }
    action.weighted_clusters = {
      clusters: live.map((d, i) => {
        const entry: EnvoyJson = { name: resolved[i].cluster, weight: unweighted ? 1 : (d.weight ?? 0) };
        applyHeaders(d.headers, entry);
        return entry;
      }),
    };
  }
  // Istio: the route timeout is disabled (0s) unless the VirtualService sets one.
  action.timeout = (http.timeout !== undefined && toEnvoyDuration(http.timeout)) || "0s";
  const retry = translateRetryPolicy(http.retries);
  if (retry) action.retry_policy = retry;
  if (http.rewrite?.uri !== undefined) action.prefix_rewrite = http.rewrite.uri;
  if (http.rewrite?.uriRegexRewrite?.match !== undefined) {
    action.regex_rewrite = {
      pattern: regexMatcher(http.rewrite.uriRegexRewrite.match),
      substitution: http.rewrite.uriRegexRewrite.rewrite ?? "",
    };
  }
  if (http.rewrite?.authority !== undefined) action.host_rewrite_literal = http.rewrite.authority;

  const mirrors = mirrorPolicies(http, vs, scope, where);
  if (mirrors.length > 0) action.request_mirror_policies = mirrors;

  // Consistent hashing comes from the DestinationRule; with several destinations the first
  // one that has a hash policy decides (they normally share one DR).
  for (const destination of resolved) {
    const hash = scope.hashPolicy(destination.hostname, destination.subset, destination.port);
    if (hash && hash.length > 0) {
      action.hash_policy = hash;
      break;
    }
  }
  return action;
}

function mirrorPolicies(http: HTTPRoute, vs: Resource<"VirtualService">, scope: RouteScope, where: string): EnvoyJson[] {
  const wanted: { destination: Destination; percentage?: { value?: number } }[] = [];
  if (http.mirror) wanted.push({ destination: http.mirror, percentage: http.mirrorPercentage });
  for (const mirror of http.mirrors ?? []) wanted.push(mirror);
  const out: EnvoyJson[] = [];
  wanted.forEach((mirror, i) => {
    // Istio: no percentage mirrors everything; an explicit 0 mirrors nothing.
    if (mirror.percentage?.value === 0) return;
    const target = resolveDestination(mirror.destination, vs, scope, `${where}.mirror${http.mirrors ? `s[${i}]` : ""}`);
    const fraction = mirror.percentage?.value !== undefined ? percentToFractional(mirror.percentage.value) : wholePercent(100);
    out.push({ cluster: target.cluster, runtime_fraction: { default_value: fraction } });
  });
  return out;
}

function redirectAction(http: HTTPRoute, vs: Resource<"VirtualService">, scope: RouteScope, where: string): EnvoyJson {
  const redirect = http.redirect ?? {};
  const out: EnvoyJson = {};
  if (redirect.scheme !== undefined) out.scheme_redirect = redirect.scheme;
  if (redirect.authority !== undefined) out.host_redirect = redirect.authority;
  if (redirect.port !== undefined) out.port_redirect = redirect.port;
  if (redirect.uri !== undefined) out.path_redirect = redirect.uri;
  const code = redirect.redirectCode ?? 301;
  const name = redirectCodes[code];
  if (name) out.response_code = name;
  else {
    out.response_code = "MOVED_PERMANENTLY";
    scope.problem(vsKey(vs), `${where}.redirect.redirectCode ${code} is not one Envoy can send; using 301. Use 301, 302, 303, 307 or 308.`);
  }
  return out;
}

/**
 * All Envoy routes of one VirtualService's `http` section for this scope, in order.
 * One Envoy route per applicable match; routes after a catch-all are unreachable and
 * dropped. A `delegate` route is replaced by the delegate VirtualService's routes with
 * matches merged (see delegate.ts); their destinations resolve in the delegate's
 * namespace and their problems are reported against it.
 */
export function translateHttpRoutes(vs: Resource<"VirtualService">, scope: RouteScope): EnvoyJson[] {
  const out: EnvoyJson[] = [];
  const namespace = vs.metadata.namespace ?? "default";
  const routes = vs.spec.http ?? [];
  // Emits one Istio route under the given matches; true when it produced a catch-all.
  const emit = (http: HTTPRoute, matches: (HTTPMatchRequest | undefined)[], owner: Resource<"VirtualService">, where: string): boolean => {
    reportBadDurations(http, (message) => scope.problem(vsKey(owner), `${where}.${message}`));
    let catchAll = false;
    for (const match of matches) {
      if (match && !matchApplies(match, scope, namespace)) continue;
      const route = translateOneRoute(http, match, owner, scope, where);
      if (!route) continue;
      out.push(route);
      if (isCatchAll(route.match as EnvoyJson)) catchAll = true;
    }
    return catchAll;
  };
  for (let index = 0; index < routes.length; index++) {
    const http = routes[index];
    const where = `spec.http[${index}]`;
    if (http.delegate) {
      if (delegateRoutes(vs, http, where, scope, emit)) break;
      continue;
    }
    const matches = http.match && http.match.length > 0 ? http.match : [undefined];
    if (emit(http, matches, vs, where)) break;
  }
  return out;
}

function delegateRoutes(
  root: Resource<"VirtualService">,
  http: HTTPRoute,
  where: string,
  scope: RouteScope,
  emit: (http: HTTPRoute, matches: (HTTPMatchRequest | undefined)[], owner: Resource<"VirtualService">, where: string) => boolean,
): boolean {
  const ref = http.delegate ?? {};
  const namespace = ref.namespace ?? root.metadata.namespace ?? "default";
  const rootNamespace = root.metadata.namespace ?? "default";
  const target = ref.name ? scope.findVirtualService?.(namespace, ref.name, rootNamespace) : undefined;
  if (!target) {
    scope.problem(vsKey(root), `${where}.delegate: VirtualService ${namespace}/${ref.name ?? ""} does not exist or is not exported to ${rootNamespace}; the route is skipped. Create it, or fix the name and namespace.`);
    return false;
  }
  if ((target.spec.hosts ?? []).length > 0) {
    scope.problem(vsKey(root), `${where}.delegate: ${vsKey(target)} has hosts, so it is not a delegate; the route is skipped. Remove its hosts or route to a destination.`);
    return false;
  }
  const subs = target.spec.http ?? [];
  for (let j = 0; j < subs.length; j++) {
    const sub = subs[j];
    const subWhere = `spec.http[${j}]`;
    if (sub.delegate) {
      scope.problem(vsKey(target), `${subWhere}.delegate: a delegate cannot delegate again; the route is skipped. Route to a destination.`);
      continue;
    }
    const matches = delegatedMatches(http.match, sub.match);
    if (matches.length === 0) continue; // never reachable under this root route
    if (emit(sub, matches, target, subWhere)) return true;
  }
  return false;
}

/**
 * Durations validation should have caught; reported here too so that a bad one is
 * never silently read as "no timeout".
 */
function reportBadDurations(http: HTTPRoute, report: (message: string) => void): void {
  const fields: [string, string | undefined][] = [
    ["timeout", http.timeout],
    ["retries.perTryTimeout", http.retries?.perTryTimeout],
    ["retries.backoff", http.retries?.backoff],
    ["fault.delay.fixedDelay", http.fault?.delay?.fixedDelay],
    ["corsPolicy.maxAge", http.corsPolicy?.maxAge],
  ];
  for (const [field, value] of fields) {
    if (value !== undefined && toEnvoyDuration(String(value)) === undefined) {
      report(`${field}: "${String(value)}" is not a duration; it is ignored. Write it like 1.5s, 250ms or 1m`);
    }
  }
}

function isCatchAll(match: EnvoyJson): boolean {
  return Object.keys(match).length === 1 && match.prefix === "/";
}

function translateOneRoute(
  http: HTTPRoute,
  match: NonNullable<HTTPRoute["match"]>[number] | undefined,
  vs: Resource<"VirtualService">,
  scope: RouteScope,
  where: string,
): EnvoyJson | undefined {
  const route: EnvoyJson = {};
  // Istio's route name: `<match name>.<route name>`, either alone when the other is absent.
  const name = [match?.name, http.name].filter((n) => n !== undefined && n !== "").join(".");
  if (name !== "") route.name = name;
  route.match = translateRouteMatch(match);

  if (http.redirect) route.redirect = redirectAction(http, vs, scope, where);
  else if (http.directResponse) {
    const direct: EnvoyJson = { status: http.directResponse.status };
    if (http.directResponse.body?.string !== undefined) direct.body = { inline_string: http.directResponse.body.string };
    else if (http.directResponse.body?.bytes !== undefined) direct.body = { inline_bytes: http.directResponse.body.bytes };
    route.direct_response = direct;
  } else if (http.route && http.route.length > 0) {
    const action = routeAction(http, http.route, vs, scope, where, route);
    if (!action) return undefined;
    route.route = action;
  } else {
    scope.problem(vsKey(vs), `${where}: has no route, redirect or directResponse; the route is skipped. Add a destination.`);
    return undefined;
  }

  applyHeaders(http.headers, route);

  const perFilter: EnvoyJson = {};
  if (http.fault) {
    const fault = translateFault(http.fault, (message) => scope.problem(vsKey(vs), `${where}.${message}`));
    if (fault) perFilter[FilterName.fault] = fault;
  }
  if (http.corsPolicy) perFilter[FilterName.cors] = translateCors(http.corsPolicy);
  if (Object.keys(perFilter).length > 0) route.typed_per_filter_config = perFilter;
  return reorder(route);
}

/** Stable key order for readable golden files: name, match, action, then the rest. */
function reorder(route: EnvoyJson): EnvoyJson {
  const order = ["name", "match", "route", "redirect", "direct_response"];
  const out: EnvoyJson = {};
  for (const key of order) if (key in route) out[key] = route[key];
  for (const [key, value] of Object.entries(route)) if (!(key in out)) out[key] = value;
  return out;
}

/** The route a service gets when no VirtualService routes it: everything to its cluster. */
export function defaultRoute(cluster: string, hashPolicy?: EnvoyJson[]): EnvoyJson {
  const action: EnvoyJson = { cluster, timeout: "0s", retry_policy: defaultRetryPolicy() };
  if (hashPolicy && hashPolicy.length > 0) action.hash_policy = hashPolicy;
  return { name: "default", match: { prefix: "/" }, route: action };
}

/** The catch-all virtual host for unknown destinations, per outboundTrafficPolicy. */
export function fallbackVirtualHost(mode: "ALLOW_ANY" | "REGISTRY_ONLY"): EnvoyJson {
  if (mode === "ALLOW_ANY") {
    return {
      name: "allow_any",
      domains: ["*"],
      routes: [{ name: "allow_any", match: { prefix: "/" }, route: { cluster: SpecialCluster.passthrough, timeout: "0s" } }],
    };
  }
  // Istio answers unknown hosts under REGISTRY_ONLY with a 502 direct response.
  return {
    name: "block_all",
    domains: ["*"],
    routes: [{ name: "block_all", match: { prefix: "/" }, direct_response: { status: 502 } }],
  };
}

/**
 * Drops domains already claimed by an earlier virtual host: Envoy rejects a route
 * configuration in which two virtual hosts share a domain.
 */
export function dedupeDomains(virtualHosts: EnvoyJson[]): EnvoyJson[] {
  const seen = new Set<string>();
  const out: EnvoyJson[] = [];
  for (const vh of virtualHosts) {
    const domains = (vh.domains as string[]).filter((d) => {
      if (seen.has(d)) return false;
      seen.add(d);
      return true;
    });
    if (domains.length > 0) out.push({ ...vh, domains });
  }
  return out;
}
