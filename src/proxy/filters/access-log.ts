// HCM (and tcp_proxy) `access_log` entries: Envoy's file and stdout loggers with a text
// or JSON format, compiled once per listener update by the telemetry room's formatter,
// and Envoy's CEL extension filter (Istio's Telemetry `filter.expression`) evaluated with
// a real CEL library. Writers are shared per path, so every listener logging to
// /dev/stdout appends to one buffered stream.
import { parse as parseCel } from "@marcbachmann/cel-js";
import { AccessLogFormatError, compileJsonFormat, compileTextFormat, type AccessLogRecord, type AccessLogWriter, type TextFormatter } from "../../telemetry/index.ts";
import { ConfigError, arr, obj, onlyFields, str, type Json } from "../json.ts";

export const fileAccessLogType = "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog";
export const stdoutAccessLogType = "type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog";
export const stderrAccessLogType = "type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StderrAccessLog";
export const celFilterType = "type.googleapis.com/envoy.extensions.access_loggers.filters.cel.v3.ExpressionFilter";

/** Envoy's own default format (used when an entry has no log_format; Istio always sets one). */
export const ENVOY_DEFAULT_FORMAT =
  '[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" %RESPONSE_CODE% %RESPONSE_FLAGS% %BYTES_RECEIVED% %BYTES_SENT% %DURATION% %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%" "%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%"\n';

/** The CEL activation a filter sees: Envoy's attribute names for what the record knows. */
type CelProgram = (activation: Record<string, unknown>) => unknown;

export interface AccessLogSink {
  format: TextFormatter;
  writer: AccessLogWriter;
  filter: CelProgram | undefined;
}

/** Opens (or shares) the writer for a path; the proxy keeps one per path (telemetry-proxy.ts). */
export type OpenWriter = (path: string) => AccessLogWriter;

function compileFormat(logFormat: Json | undefined, path: string): TextFormatter {
  if (!logFormat) return compileTextFormat(ENVOY_DEFAULT_FORMAT, path);
  onlyFields(logFormat, path, ["text_format_source", "json_format", "text_format"], ["omit_empty_values", "content_type", "formatters", "json_format_options"]);
  try {
    const src = obj(logFormat.text_format_source);
    if (src) {
      onlyFields(src, `${path}.text_format_source`, ["inline_string"]);
      return compileTextFormat(str(src.inline_string) ?? "", `${path}.text_format_source.inline_string`);
    }
    if (typeof logFormat.text_format === "string") return compileTextFormat(logFormat.text_format, `${path}.text_format`);
    const json = obj(logFormat.json_format);
    if (json) {
      for (const [k, v] of Object.entries(json))
        if (typeof v !== "string") throw new ConfigError(`${path}.json_format.${k}`, "only string values (one format string per key) are implemented");
      return compileJsonFormat(json as Record<string, string>, `${path}.json_format`);
    }
  } catch (err) {
    if (err instanceof AccessLogFormatError) throw new ConfigError(path, err.message);
    throw err;
  }
  return compileTextFormat(ENVOY_DEFAULT_FORMAT, path);
}

function compileFilter(filter: Json, path: string): CelProgram {
  onlyFields(filter, path, ["extension_filter"]);
  const ext = obj(filter.extension_filter);
  if (!ext) throw new ConfigError(path, "only extension_filter (envoy.access_loggers.extension_filters.cel) is implemented");
  const typed = obj(ext.typed_config) ?? {};
  if (typed["@type"] !== celFilterType) throw new ConfigError(`${path}.extension_filter.typed_config`, `access log filter ${String(typed["@type"])} is not implemented (only the CEL ExpressionFilter)`);
  const expression = str(typed.expression);
  if (!expression) throw new ConfigError(`${path}.extension_filter.typed_config.expression`, "is required");
  try {
    return parseCel(expression) as CelProgram;
  } catch (err) {
    throw new ConfigError(`${path}.extension_filter.typed_config.expression`, `not valid CEL: ${(err as Error).message.split("\n")[0]}`);
  }
}

/** Compile the `access_log` list of an HCM or tcp_proxy; throws ConfigError (a NACK) for what is not implemented. */
export function compileAccessLogs(entries: unknown, path: string, open: OpenWriter): AccessLogSink[] {
  return arr(entries).map((e, i) => {
    const p = `${path}[${i}]`;
    onlyFields(e, p, ["name", "typed_config", "filter"]);
    const typed = obj(e.typed_config) ?? {};
    const type = str(typed["@type"]);
    const { "@type": _t, ...config } = typed;
    let file: string;
    let logFormat: Json | undefined;
    if (type === fileAccessLogType) {
      onlyFields(config, `${p}.typed_config`, ["path", "log_format", "format", "json_format", "typed_json_format"]);
      file = str(config.path) ?? "";
      if (!file) throw new ConfigError(`${p}.typed_config.path`, "is required (a file, or /dev/stdout)");
      if (typeof config.format === "string") logFormat = { text_format: config.format };
      else if (obj(config.json_format)) logFormat = { json_format: config.json_format };
      else logFormat = obj(config.log_format);
    } else if (type === stdoutAccessLogType || type === stderrAccessLogType) {
      onlyFields(config, `${p}.typed_config`, ["log_format"]);
      file = type === stdoutAccessLogType ? "/dev/stdout" : "/dev/stderr";
      logFormat = obj(config.log_format);
    } else {
      throw new ConfigError(`${p}.typed_config`, `access logger ${String(e.name ?? "")} (${type ?? "no typed_config"}) is not implemented (file or stdout/stderr loggers)`);
    }
    const format = compileFormat(logFormat, `${p}.typed_config.log_format`);
    const filter = obj(e.filter) ? compileFilter(obj(e.filter)!, `${p}.filter`) : undefined;
    return { format, writer: open(file), filter };
  });
}

function headerText(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v.join(",") : v;
}

/** Envoy's CEL attributes for one request (request.*, response.*, upstream.*, connection.*). */
export function celActivation(r: AccessLogRecord): Record<string, unknown> {
  const reqHeaders: Record<string, string> = {};
  for (const [k, v] of Object.entries(r.requestHeaders)) {
    const t = headerText(v);
    if (t !== undefined) reqHeaders[k] = t;
  }
  const respHeaders: Record<string, string> = {};
  for (const [k, v] of Object.entries(r.responseHeaders)) {
    const t = headerText(v);
    if (t !== undefined) respHeaders[k] = t;
  }
  const q = r.path.indexOf("?");
  return {
    request: {
      method: r.method,
      path: r.path,
      url_path: q < 0 ? r.path : r.path.slice(0, q),
      host: r.authority,
      scheme: r.scheme,
      protocol: r.protocol,
      headers: reqHeaders,
      id: reqHeaders["x-request-id"] ?? "",
      useragent: reqHeaders["user-agent"] ?? "",
      size: BigInt(r.bytesReceived),
    },
    response: {
      code: BigInt(r.responseCode),
      code_details: r.responseCodeDetails,
      flags: BigInt(0),
      headers: respHeaders,
      size: BigInt(r.bytesSent),
      grpc_status: BigInt(r.grpcStatus),
    },
    upstream: { address: r.upstreamHost, cluster_name: r.upstreamCluster },
    source: { address: r.downstreamRemoteAddress },
    destination: { address: r.downstreamLocalAddress },
    connection: { requested_server_name: r.requestedServerName },
  };
}

/** Write one record to every sink whose filter (if any) says yes. A failing filter logs nothing for that sink, as Envoy. */
export function writeAccessLogs(sinks: readonly AccessLogSink[], r: AccessLogRecord): void {
  let activation: Record<string, unknown> | undefined;
  for (const s of sinks) {
    if (s.filter) {
      activation ??= celActivation(r);
      let pass: unknown;
      try {
        pass = s.filter(activation);
      } catch {
        pass = false;
      }
      if (pass !== true) continue;
    }
    s.writer.write(s.format(r));
  }
}
