// envoy.filters.http.rbac and envoy.filters.network.rbac: Istio's AuthorizationPolicy as
// the proxy enforces it. HTTP: a denied request gets 403 "RBAC: access denied" (no
// response flag; the reason goes to response code details). TCP: a denied connection is
// closed before any byte reaches the upstream.
//
// shadow_rules are accepted and NOT evaluated (Istio emits them only for dry-run
// policies); this is documented in docs/proxy-security-filters.md.
import { ConfigError, obj, onlyFields, str, type Json } from "../json.ts";
import type { Exchange, FilterStatus, HttpFilter } from "../http-filter.ts";
import { perFilterConfig } from "../http-filter.ts";
import { StatsRegistry, type Counter } from "../stats.ts";
import { RbacEngine } from "./rbac-engine.ts";
import type { RbacInput } from "./rbac-matchers.ts";
import { setDynamicMetadata } from "./rbac-metadata.ts";

export const rbacTypeUrl = "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC";
export const rbacPerRouteTypeUrl = "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBACPerRoute";
export const networkRbacTypeUrl = "type.googleapis.com/envoy.extensions.filters.network.rbac.v3.RBAC";

export const rbacDeniedBody = "RBAC: access denied";

/** Fields of the RBAC configs that do not change enforcement (shadow engines are not run). */
const shadowFields = ["shadow_rules", "shadow_rules_stat_prefix", "track_per_rule_stats"];

interface RbacStats {
  allowed: Counter;
  denied: Counter;
  logged: Counter;
  notLogged: Counter;
}

function rbacStats(stats: StatsRegistry, prefix: string): RbacStats {
  return {
    allowed: stats.counter(`${prefix}allowed`),
    denied: stats.counter(`${prefix}denied`),
    logged: stats.counter(`${prefix}logged`),
    notLogged: stats.counter(`${prefix}not_logged`),
  };
}

/** `rules` absent means "no enforcement" in Envoy; undefined here. */
function compileRules(config: Json, path: string): RbacEngine | undefined {
  return config.rules === undefined ? undefined : RbacEngine.compile(config.rules, `${path}.rules`);
}

/** The request as RBAC sees it. Headers are read lazily: most policies look at few. */
export function httpRbacInput(ex: Exchange): RbacInput {
  const ctx = ex.ctx;
  const cut = ex.path.search(/[?#]/);
  return {
    header: (name) => {
      if (name.charCodeAt(0) === 58) {
        if (name === ":method") return ex.method;
        if (name === ":authority") return ex.authority;
        if (name === ":path") return ex.path;
        if (name === ":scheme") return ex.scheme;
        return undefined;
      }
      const v = ex.headers[name];
      return v === undefined ? undefined : Array.isArray(v) ? v.join(",") : String(v);
    },
    path: cut < 0 ? ex.path : ex.path.slice(0, cut),
    directRemoteIp: ctx.directRemoteAddress,
    remoteIp: ctx.downstreamRemoteAddress || ctx.directRemoteAddress,
    destinationIp: ctx.downstreamLocalAddress,
    destinationPort: ctx.downstreamLocalPort,
    peerPrincipal: ctx.peerPrincipal,
    requestedServerName: ctx.requestedServerName,
    metadata: ctx.dynamicMetadata,
  };
}

const perRouteCache = new WeakMap<Json, { engine: RbacEngine | undefined }>();

/** RBACPerRoute {rbac: RBAC}: replaces the filter's rules on that route; absent rules disable it. */
export function compileRbacPerRoute(json: Json, path: string): { engine: RbacEngine | undefined } {
  let c = perRouteCache.get(json);
  if (!c) {
    onlyFields(json, path, ["rbac"]);
    const inner = obj(json.rbac);
    if (inner) onlyFields(inner, `${path}.rbac`, ["rules"], shadowFields);
    c = { engine: inner ? compileRules(inner, `${path}.rbac`) : undefined };
    perRouteCache.set(json, c);
  }
  return c;
}

export interface RbacFilterOptions {
  stats?: StatsRegistry;
  /** The HCM's stat_prefix: stats are http.<prefix>.rbac.<rules_stat_prefix>allowed etc. */
  statPrefix?: string;
}

export function createRbacFilter(name: string, config: Json, path: string, opts: RbacFilterOptions = {}): HttpFilter {
  // matcher / shadow_matcher (the generic matcher API) are not implemented: refused by onlyFields.
  onlyFields(config, path, ["rules", "rules_stat_prefix"], shadowFields);
  const base = compileRules(config, path);
  const stats = rbacStats(opts.stats ?? new StatsRegistry(), `http.${opts.statPrefix ?? ""}.rbac.${str(config.rules_stat_prefix) ?? ""}`);
  return {
    name,
    onRequest(ex: Exchange): FilterStatus {
      const override = perFilterConfig(ex, name);
      const engine = override ? compileRbacPerRoute(override, `typed_per_filter_config.${name}`).engine : base;
      if (!engine) return "continue";
      const decision = engine.decide(httpRbacInput(ex));
      if (engine.action === "LOG") {
        // Envoy's hint for access loggers: log this request because a LOG policy matched.
        const hint = decision.matchedPolicy !== undefined;
        (hint ? stats.logged : stats.notLogged).value++;
        setDynamicMetadata(ex.ctx, "envoy.filters.http.rbac", { access_log_hint: hint });
        return "continue";
      }
      if (decision.allowed) {
        stats.allowed.value++;
        return "continue";
      }
      stats.denied.value++;
      ex.ctx.responseCodeDetails = `rbac_access_denied_matched_policy[${decision.matchedPolicy ?? "none"}]`;
      ex.sendLocalReply(403, rbacDeniedBody);
      return "stop";
    },
  };
}

/** What the network filter knows about a new connection. */
export interface ConnectionFacts {
  remoteAddress: string;
  localAddress: string;
  localPort: number;
  serverName: string;
  /** The client certificate's URI SAN; "" when plaintext. */
  peerPrincipal: string;
}

export interface NetworkRbacFilter {
  readonly name: string;
  /** True when the connection may proceed; false means close it now. */
  allows(conn: ConnectionFacts): boolean;
}

const noHeaders = (): undefined => undefined;

/**
 * Build a network filter that must run before the terminal one. Only RBAC is implemented
 * there; anything else is a ConfigError naming the filter, so the listener is NACKed.
 */
export function createNetworkRbacFilter(entry: Json, path: string, stats: StatsRegistry = new StatsRegistry()): NetworkRbacFilter {
  onlyFields(entry, path, ["name", "typed_config"]);
  const name = String(entry.name ?? "");
  const typed = obj(entry.typed_config) ?? {};
  const type = str(typed["@type"]);
  if (type !== networkRbacTypeUrl)
    throw new ConfigError(`${path}.typed_config`, `network filter "${name}" (${type ?? "no typed_config"}) is not implemented by the skiff proxy before the terminal filter (only envoy.filters.network.rbac is)`);
  const { "@type": _t, ...config } = typed;
  const p = `${path}.typed_config`;
  // enforcement_type: the check runs once when the connection is dispatched, which is what
  // ONE_TIME_ON_FIRST_BYTE and CONTINUOUS both come to without dynamic connection metadata.
  onlyFields(config, p, ["rules", "stat_prefix", "enforcement_type"], shadowFields);
  const statPrefix = str(config.stat_prefix);
  if (!statPrefix) throw new ConfigError(`${p}.stat_prefix`, "is required");
  const engine = compileRules(config, p);
  const s = rbacStats(stats, `${statPrefix}.rbac.`);
  return {
    name,
    allows(conn) {
      if (!engine) return true;
      const decision = engine.decide({
        header: noHeaders,
        path: undefined,
        directRemoteIp: conn.remoteAddress,
        remoteIp: conn.remoteAddress,
        destinationIp: conn.localAddress,
        destinationPort: conn.localPort,
        peerPrincipal: conn.peerPrincipal,
        requestedServerName: conn.serverName,
        metadata: undefined,
      });
      if (engine.action === "LOG") {
        (decision.matchedPolicy !== undefined ? s.logged : s.notLogged).value++;
        return true;
      }
      (decision.allowed ? s.allowed : s.denied).value++;
      return decision.allowed;
    },
  };
}
