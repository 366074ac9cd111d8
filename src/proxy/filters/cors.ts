// envoy.filters.http.cors: answers CORS preflight requests and adds the
// access-control-* headers to simple requests, per the route's CorsPolicy.
import { arr, durationMs, fraction, obj, onlyFields, str, type Json } from "../json.ts";
import { compileStringMatcher, type StringPredicate } from "../string-match.ts";
import { perFilterConfig, type Exchange, type FilterStatus, type HttpFilter } from "../http-filter.ts";

export const corsTypeUrl = "type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors";
export const corsPolicyTypeUrl = "type.googleapis.com/envoy.extensions.filters.http.cors.v3.CorsPolicy";

export interface CorsPolicy {
  origins: StringPredicate[];
  allowMethods: string | undefined;
  allowHeaders: string | undefined;
  exposeHeaders: string | undefined;
  maxAge: string | undefined;
  allowCredentials: boolean;
  enabled: boolean;
}

const cache = new WeakMap<Json, CorsPolicy>();

/** Compile a CorsPolicy (route.v3 or cors.v3 form; same fields). Cached per object. */
export function compileCorsPolicy(json: Json, path: string): CorsPolicy {
  const hit = cache.get(json);
  if (hit) return hit;
  onlyFields(
    json,
    path,
    ["allow_origin_string_match", "allow_methods", "allow_headers", "expose_headers", "max_age", "allow_credentials", "filter_enabled", "allow_private_network_access"],
    ["shadow_enabled", "forward_not_matching_preflights"],
  );
  const fe = obj(json.filter_enabled);
  const policy: CorsPolicy = {
    origins: arr(json.allow_origin_string_match).map((m, i) => compileStringMatcher(m, `${path}.allow_origin_string_match[${i}]`)),
    allowMethods: str(json.allow_methods),
    allowHeaders: str(json.allow_headers),
    exposeHeaders: str(json.expose_headers),
    maxAge: json.max_age === undefined ? undefined : String(json.max_age),
    allowCredentials: json.allow_credentials === true,
    enabled: fe ? fraction(fe.default_value) >= 1 : true,
  };
  if (policy.maxAge && !/^\d+$/.test(policy.maxAge)) policy.maxAge = String(Math.round((durationMs(policy.maxAge) ?? 0) / 1000));
  cache.set(json, policy);
  return policy;
}

function header(ex: Exchange, name: string): string | undefined {
  const v = ex.headers[name];
  return v === undefined ? undefined : Array.isArray(v) ? v[0] : String(v);
}

export function createCorsFilter(name: string): HttpFilter {
  return {
    name,
    onRequest(ex: Exchange): FilterStatus {
      const origin = header(ex, "origin");
      if (!origin) return "continue";
      const raw = perFilterConfig(ex, name) ?? ex.vhost?.cors;
      if (!raw) return "continue";
      const policy = compileCorsPolicy(raw, "cors");
      if (!policy.enabled) return "continue";
      const allowed = policy.origins.some((m) => m(origin));
      if (!allowed) return "continue";
      const isPreflight = ex.method === "OPTIONS" && header(ex, "access-control-request-method") !== undefined;
      if (isPreflight) {
        const h: Record<string, string> = { "access-control-allow-origin": origin };
        if (policy.allowMethods) h["access-control-allow-methods"] = policy.allowMethods;
        if (policy.allowHeaders) h["access-control-allow-headers"] = policy.allowHeaders;
        if (policy.maxAge) h["access-control-max-age"] = policy.maxAge;
        if (policy.allowCredentials) h["access-control-allow-credentials"] = "true";
        ex.sendLocalReply(200, "", h);
        return "stop";
      }
      const extra = (ex.extraResponseHeaders ??= {});
      extra["access-control-allow-origin"] = origin;
      if (policy.allowCredentials) extra["access-control-allow-credentials"] = "true";
      if (policy.exposeHeaders) extra["access-control-expose-headers"] = policy.exposeHeaders;
      return "continue";
    },
  };
}
