// istio.stats: Istio's standard metrics. The HTTP filter in the chain carries only the
// configuration (udpa TypedStruct around stats.PluginConfig, as Istio emits it); the
// work happens when the request completes (telemetry-hcm.ts), where the response code,
// flags and sizes are known.
import { parse as parseCel } from "@marcbachmann/cel-js";
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
  /** Tag changes by full metric name (istio_requests_total): removed tags, constant and per-request dimensions. */
  overrides: Record<string, FamilyOverrides>;
  /**
   * Per-request dimensions by full HTTP metric name, in the order of that family's
   * `dynamicTags`: each a CEL program over Envoy's request attributes.
   */
  dynamic: Record<string, DynamicDimension[]>;
  /** Dimensions that cannot be applied (CEL that does not parse, per-request values on TCP metrics): reported once. */
  ignoredDimensions: string[];
}

export interface DynamicDimension {
  tag: string;
  program: (activation: Record<string, unknown>) => unknown;
}

const HTTP_METRICS = ["requests_total", "request_duration_milliseconds", "request_bytes", "response_bytes", "request_messages_total", "response_messages_total"];
const TCP_METRICS = ["tcp_sent_bytes_total", "tcp_received_bytes_total", "tcp_connections_opened_total", "tcp_connections_closed_total"];

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
  const dynamic: Record<string, DynamicDimension[]> = {};
  const ignoredDimensions: string[] = [];
  arr(value.metrics).forEach((m, i) => {
    const p = `${path}.metrics[${i}]`;
    onlyFields(m, p, ["name", "drop", "dimensions", "tags_to_remove"], ["match"]);
    const name = str(m.name) ?? "";
    const removeTags = Array.isArray(m.tags_to_remove) ? (m.tags_to_remove as unknown[]).map(String) : [];
    const upsertTags: Record<string, string> = {};
    const perRequest: DynamicDimension[] = [];
    for (const [tag, expr] of Object.entries(obj(m.dimensions) ?? {})) {
      const literal = celStringLiteral(String(expr));
      if (literal !== undefined) {
        upsertTags[tag] = literal;
        continue;
      }
      try {
        perRequest.push({ tag, program: parseCel(String(expr)) as DynamicDimension["program"] });
      } catch (err) {
        ignoredDimensions.push(`${p}.dimensions.${tag} = ${String(expr)} is not valid CEL (${(err as Error).message.split("\n")[0]})`);
      }
    }
    const bare = name.replace(/^istio_/, "");
    // An empty name is Istio's "every metric".
    const targets = name === "" ? [...HTTP_METRICS, ...TCP_METRICS] : [bare];
    if (removeTags.length > 0 || Object.keys(upsertTags).length > 0 || perRequest.length > 0) {
      for (const t of targets) {
        const tcp = TCP_METRICS.includes(t);
        if (tcp && perRequest.length > 0 && name !== "") for (const d of perRequest) ignoredDimensions.push(`${p}.dimensions.${d.tag}: per-request values apply to HTTP metrics only, not ${t}`);
        const dims = tcp ? [] : perRequest;
        overrides[`istio_${t}`] = { removeTags, upsertTags, ...(dims.length > 0 ? { dynamicTags: dims.map((d) => d.tag) } : {}) };
        if (dims.length > 0) dynamic[`istio_${t}`] = dims;
      }
    }
    if (m.drop === true) {
      if (name === "") throw new ConfigError(`${p}.name`, "drop needs the metric's name (e.g. requests_total)");
      dropped.add(name.replace(/^istio_/, ""));
    }
  });
  return { reporter: reporter === "SERVER_GATEWAY" ? "SERVER_GATEWAY" : "AUTO", disableHostHeaderFallback: value.disable_host_header_fallback === true, dropped, overrides, dynamic, ignoredDimensions };
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
