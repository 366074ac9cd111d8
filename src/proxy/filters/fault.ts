// envoy.filters.http.fault: delay and abort a percentage of requests (Istio's
// VirtualService fault). Flags: DI when delayed, FI when aborted.
import { ConfigError, durationMs, fraction, num, obj, onlyFields, arr, type Json } from "../json.ts";
import { compileHeaderMatcher, type HeaderPredicate } from "../string-match.ts";
import { ResponseFlag } from "../request-context.ts";
import { perFilterConfig, type Exchange, type FilterStatus, type HttpFilter } from "../http-filter.ts";

export const faultTypeUrl = "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault";

export interface FaultConfig {
  delayMs: number | undefined;
  delayFraction: number;
  abortStatus: number | undefined;
  abortGrpcStatus: number | undefined;
  abortFraction: number;
  headers: HeaderPredicate[];
  maxActiveFaults: number | undefined;
}

function compile(json: Json, path: string): FaultConfig {
  onlyFields(json, path, ["delay", "abort", "headers", "max_active_faults"], []);
  const delay = obj(json.delay);
  const abort = obj(json.abort);
  if (delay) {
    onlyFields(delay, `${path}.delay`, ["fixed_delay", "percentage"]);
    if (delay.fixed_delay === undefined) throw new ConfigError(`${path}.delay`, "only fixed_delay is implemented (header_delay is not)");
  }
  if (abort) {
    onlyFields(abort, `${path}.abort`, ["http_status", "grpc_status", "percentage"]);
    if (abort.http_status === undefined && abort.grpc_status === undefined)
      throw new ConfigError(`${path}.abort`, "only http_status and grpc_status aborts are implemented (header_abort is not)");
  }
  return {
    delayMs: delay ? durationMs(delay.fixed_delay) : undefined,
    delayFraction: delay ? fraction(delay.percentage) : 0,
    abortStatus: abort ? num(abort.http_status) : undefined,
    abortGrpcStatus: abort ? num(abort.grpc_status) : undefined,
    abortFraction: abort ? fraction(abort.percentage) : 0,
    headers: arr(json.headers).map((h, i) => compileHeaderMatcher(h, `${path}.headers[${i}]`)),
    maxActiveFaults: num(json.max_active_faults),
  };
}

const perRouteCache = new WeakMap<Json, FaultConfig>();

/** Validate/compile a per-route HTTPFault (cached per config object). */
export function compileFaultPerRoute(json: Json, path: string): FaultConfig {
  let c = perRouteCache.get(json);
  if (!c) {
    c = compile(json, path);
    perRouteCache.set(json, c);
  }
  return c;
}

export function createFaultFilter(name: string, typedConfig: Json, path: string, random: () => number = Math.random): HttpFilter {
  const base = compile(typedConfig, path);
  let active = 0;
  return {
    name,
    async onRequest(ex: Exchange): Promise<FilterStatus> {
      const override = perFilterConfig(ex, name);
      const cfg = override ? compileFaultPerRoute(override, `typed_per_filter_config.${name}`) : base;
      if (cfg.delayMs === undefined && cfg.abortStatus === undefined && cfg.abortGrpcStatus === undefined) return "continue";
      if (cfg.headers.length > 0) {
        const lookup = (n: string): string | undefined => {
          const v = ex.headers[n];
          return v === undefined ? undefined : Array.isArray(v) ? v.join(",") : String(v);
        };
        for (const h of cfg.headers) if (!h(lookup)) return "continue";
      }
      if (cfg.maxActiveFaults !== undefined && active >= cfg.maxActiveFaults) return "continue";
      active++;
      try {
        if (cfg.delayMs !== undefined && random() < cfg.delayFraction) {
          ex.ctx.setFlag(ResponseFlag.DI);
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, cfg.delayMs);
            ex.signal.addEventListener("abort", () => {
              clearTimeout(timer);
              resolve();
            }, { once: true });
          });
          if (ex.signal.aborted) return "stop";
        }
        if ((cfg.abortStatus !== undefined || cfg.abortGrpcStatus !== undefined) && random() < cfg.abortFraction) {
          ex.ctx.setFlag(ResponseFlag.FI);
          if (cfg.abortGrpcStatus !== undefined) {
            // gRPC abort: HTTP 200 with grpc-status in a trailers-only response.
            ex.sendLocalReply(200, "", { "content-type": "application/grpc", "grpc-status": String(cfg.abortGrpcStatus), "grpc-message": "fault filter abort" });
          } else {
            ex.sendLocalReply(cfg.abortStatus!, "fault filter abort");
          }
          return "stop";
        }
        return "continue";
      } finally {
        active--;
      }
    },
  };
}
