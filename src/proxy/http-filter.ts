// The HTTP filter contract inside the HTTP connection manager. Filters run in the
// order the HCM lists them; the last one is always the router.
import type { HeaderMap } from "./header-mutation.ts";
import type { RequestContext } from "./request-context.ts";
import type { CompiledRoute, CompiledVirtualHost } from "./route-table.ts";
import type { Json } from "./json.ts";
import type { CancelSignal } from "./cancel.ts";

/** One downstream request as filters see it. One instance per request, fields reassigned. */
export interface Exchange {
  readonly ctx: RequestContext;
  method: string;
  /** Path including the query string. */
  path: string;
  authority: string;
  /** "http" or "https" as the downstream connection used. */
  scheme: string;
  /** Request headers (lower-case names, no pseudo-headers); filters may change them. */
  headers: HeaderMap;
  vhost: CompiledVirtualHost | undefined;
  route: CompiledRoute | undefined;
  /** Extra headers the response gets (CORS, fault); applied before sending. */
  extraResponseHeaders: HeaderMap | undefined;
  /** Aborted when the downstream goes away. */
  readonly signal: CancelSignal;
  /** Answer locally (Envoy's sendLocalReply); no later filter runs. */
  sendLocalReply(status: number, body: string, headers?: HeaderMap): void;
}

export type FilterStatus = "continue" | "stop";

export interface HttpFilter {
  /** The HCM http_filters[].name, used to look up typed_per_filter_config. */
  readonly name: string;
  onRequest(ex: Exchange): FilterStatus | Promise<FilterStatus>;
}

/** Per-route then per-virtual-host filter config, unwrapped from FilterConfig if needed. */
export function perFilterConfig(ex: Exchange, filterName: string): Json | undefined {
  const raw = (ex.route?.perFilterConfig[filterName] ?? ex.vhost?.perFilterConfig[filterName]) as Json | undefined;
  if (!raw) return undefined;
  if (raw["@type"] === "type.googleapis.com/envoy.config.route.v3.FilterConfig") return raw.config as Json | undefined;
  return raw;
}
