// istio.stats: Istio's standard metrics. The HTTP filter in the chain carries only the
// configuration (udpa TypedStruct around stats.PluginConfig, as Istio emits it); the
// work happens when the request completes (telemetry-hcm.ts), where the response code,
// flags and sizes are known.
import { ConfigError, arr, obj, onlyFields, str, type Json } from "../json.ts";
import type { HttpFilter } from "../http-filter.ts";
import type { FamilyOverrides } from "../../telemetry/index.ts";

export const typedStructUrl = "type.googleapis.com/udpa.type.v1.TypedStruct";
export const xdsTypedStructUrl = "type.googleapis.com/xds.type.v3.TypedStruct";
export const statsPluginConfigType = "type.googleapis.com/stats.PluginConfig";

export interface StatsFilterConfig {
  /** SERVER_GATEWAY: a gateway reports as source on its outbound side. */
  reporter: "AUTO" | "SERVER_GATEWAY";
  disableHostHeaderFallback: boolean;
  /** Metric names (Istio config spelling without `istio_`, e.g. requests_total) that are dropped. */
  dropped: Set<string>;
  /** Tag changes by full metric name (istio_requests_total): removed tags and constant dimensions. */
  overrides: Record<string, FamilyOverrides>;
  /** Dimensions whose value is not a constant (per-request CEL): not applied, reported once. */
  ignoredDimensions: string[];
}

/** A CEL string literal ('x' or "x") as its value; undefined for any other expression. */
function celStringLiteral(expr: string): string | undefined {
  const m = /^\s*(?:'([^'\\]*)'|"([^"\\]*)")\s*$/.exec(expr);
  return m ? (m[1] ?? m[2]) : undefined;
}

export function parseStatsConfig(value: Json, path: string): StatsFilterConfig {
  onlyFields(value, path, ["reporter", "disable_host_header_fallback", "metrics"], ["debug", "stat_prefix", "tcp_reporting_duration", "definitions", "rotation_interval", "graceful_deletion_interval"]);
  const reporter = str(value.reporter) ?? "AUTO";
  if (reporter !== "AUTO" && reporter !== "UNSPECIFIED" && reporter !== "SERVER_GATEWAY")
    throw new ConfigError(`${path}.reporter`, `reporter ${reporter} is not implemented (AUTO or SERVER_GATEWAY)`);
  const dropped = new Set<string>();
  const overrides: Record<string, FamilyOverrides> = {};
  const ignoredDimensions: string[] = [];
  arr(value.metrics).forEach((m, i) => {
    const p = `${path}.metrics[${i}]`;
    onlyFields(m, p, ["name", "drop", "dimensions", "tags_to_remove"], ["match"]);
    const name = str(m.name) ?? "";
    const removeTags = Array.isArray(m.tags_to_remove) ? (m.tags_to_remove as unknown[]).map(String) : [];
    const upsertTags: Record<string, string> = {};
    for (const [tag, expr] of Object.entries(obj(m.dimensions) ?? {})) {
      const literal = celStringLiteral(String(expr));
      if (literal === undefined) ignoredDimensions.push(`${p}.dimensions.${tag} = ${String(expr)}`);
      else upsertTags[tag] = literal;
    }
    if (removeTags.length > 0 || Object.keys(upsertTags).length > 0) {
      // An empty name is Istio's "every metric".
      const targets = name === "" ? ["requests_total", "request_duration_milliseconds", "request_bytes", "response_bytes", "tcp_sent_bytes_total", "tcp_received_bytes_total", "tcp_connections_opened_total", "tcp_connections_closed_total"] : [name.replace(/^istio_/, "")];
      for (const t of targets) overrides[`istio_${t}`] = { removeTags, upsertTags };
    }
    if (m.drop === true) {
      if (name === "") throw new ConfigError(`${p}.name`, "drop needs the metric's name (e.g. requests_total)");
      dropped.add(name.replace(/^istio_/, ""));
    }
  });
  return { reporter: reporter === "SERVER_GATEWAY" ? "SERVER_GATEWAY" : "AUTO", disableHostHeaderFallback: value.disable_host_header_fallback === true, dropped, overrides, ignoredDimensions };
}

export class IstioStatsFilter implements HttpFilter {
  constructor(
    readonly name: string,
    readonly config: StatsFilterConfig,
  ) {}
  onRequest(): "continue" {
    return "continue";
  }
}

/** The TypedStruct's payload: {type_url, value}; typed configs that are not TypedStruct are refused by the caller. */
export function typedStructPayload(config: Json, path: string): { typeUrl: string; value: Json } {
  onlyFields(config, path, ["type_url", "value"]);
  const typeUrl = str(config.type_url);
  if (!typeUrl) throw new ConfigError(`${path}.type_url`, "is required in a TypedStruct");
  return { typeUrl, value: obj(config.value) ?? {} };
}
