// The HTTP filters the proxy implements, by the type URL of their typed_config (as
// Envoy dispatches). An HCM listing any other filter is NACKed.
import { ConfigError, obj, type Json } from "../json.ts";
import type { HttpFilter } from "../http-filter.ts";
import { compileFaultPerRoute, createFaultFilter, faultTypeUrl } from "./fault.ts";
import { compileCorsPolicy, corsPolicyTypeUrl, corsTypeUrl, createCorsFilter } from "./cors.ts";
import { compileRbacPerRoute, createRbacFilter, rbacPerRouteTypeUrl, rbacTypeUrl } from "./rbac.ts";
import { compileJwtPerRoute, createJwtAuthnFilter, jwtAuthnTypeUrl, jwtPerRouteTypeUrl } from "./jwt-authn.ts";
import type { StatsRegistry } from "../stats.ts";
import type { ClusterManagerApi } from "../upstream/index.ts";
import { IstioStatsFilter, parseStatsConfig, statsPluginConfigType, typedStructPayload, typedStructUrl, xdsTypedStructUrl } from "./stats.ts";
import { MetadataExchangeFilter, parseMetadataExchangeConfig, peerMetadataConfigType } from "./metadata-exchange.ts";

export { connectionFacts } from "./rbac-connection.ts";
export { createNetworkRbacFilter, type NetworkRbacFilter } from "./rbac.ts";

export const routerTypeUrl = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router";

export interface FilterFactoryOptions {
  random?: () => number;
  /** Where filters count (rbac.allowed, jwt_authn.denied …); a throwaway registry when absent. */
  stats?: StatsRegistry;
  /** The HCM's stat_prefix, for http.<prefix>.<filter stats>. */
  statPrefix?: string;
  log?: (level: "info" | "warn" | "error", msg: string) => void;
  /** The proxy's clusters, for filters that call out (jwt_authn's remote JWKS). */
  clusters?: ClusterManagerApi;
}

/** Build a (non-router) HTTP filter from an HCM http_filters entry. */
export function createHttpFilter(entry: Json, path: string, opts: FilterFactoryOptions = {}): HttpFilter {
  const name = String(entry.name ?? "");
  const typed = obj(entry.typed_config);
  const type = typed ? String(typed["@type"] ?? "") : "";
  const { "@type": _t, ...config } = typed ?? {};
  switch (type) {
    case faultTypeUrl:
      return createFaultFilter(name, config, `${path}.typed_config`, opts.random);
    case corsTypeUrl:
      return createCorsFilter(name);
    case rbacTypeUrl:
      return createRbacFilter(name, config, `${path}.typed_config`, opts);
    case jwtAuthnTypeUrl:
      return createJwtAuthnFilter(name, config, `${path}.typed_config`, opts);
    case typedStructUrl:
    case xdsTypedStructUrl: {
      // Istio's own filters (istio.stats, istio.metadata_exchange) arrive as TypedStruct.
      const { typeUrl, value } = typedStructPayload(config, `${path}.typed_config`);
      if (typeUrl === statsPluginConfigType) return new IstioStatsFilter(name, parseStatsConfig(value, `${path}.typed_config.value`));
      if (typeUrl === peerMetadataConfigType) return new MetadataExchangeFilter(name, parseMetadataExchangeConfig(value, `${path}.typed_config.value`));
      throw new ConfigError(`${path}.typed_config.type_url`, `HTTP filter "${name}" (${typeUrl}) is not implemented by the skiff proxy`);
    }
    default:
      throw new ConfigError(`${path}.typed_config`, `HTTP filter "${name}" (${type || "no typed_config"}) is not implemented by the skiff proxy`);
  }
}

/** Validate one typed_per_filter_config entry at RDS time, so a bad one is NACKed. */
export function validatePerFilterConfig(value: Json, path: string): void {
  let v = value;
  if (v["@type"] === "type.googleapis.com/envoy.config.route.v3.FilterConfig") v = obj(v.config) ?? {};
  const { "@type": type, ...config } = v;
  if (type === faultTypeUrl) compileFaultPerRoute(v, path);
  else if (type === rbacPerRouteTypeUrl) compileRbacPerRoute(config, path);
  else if (type === jwtPerRouteTypeUrl) compileJwtPerRoute(config, path);
  else if (type === corsPolicyTypeUrl || type === "type.googleapis.com/envoy.config.route.v3.CorsPolicy") compileCorsPolicy(v, path);
  else throw new ConfigError(path, `per-route config ${String(type)} is not implemented`);
  void config;
}
