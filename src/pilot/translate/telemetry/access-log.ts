// Access log entries (HCM and tcp_proxy `access_log`): Envoy's file logger with Istio's
// default TEXT format or JSON keys (from the telemetry room) or the configured format,
// and a CEL extension filter for Telemetry `filter.expression`. The expression is
// parsed here with a real CEL parser, so a typo is reported instead of NACKed later.
import { parse as parseCel } from "@marcbachmann/cel-js";
import { ISTIO_JSON_FORMAT, ISTIO_TEXT_FORMAT } from "../../../telemetry/index.ts";
import type { EnvoyJson, MeshConfig, TranslationProblem } from "../types.ts";
import type { AccessLogChoice } from "./policy.ts";
import { findProvider } from "./providers.ts";

export const ACCESS_LOG_TYPE = {
  file: "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog",
  cel: "type.googleapis.com/envoy.extensions.access_loggers.filters.cel.v3.ExpressionFilter",
} as const;

export const ACCESS_LOG_NAME = {
  file: "envoy.access_loggers.file",
  cel: "envoy.access_loggers.extension_filters.cel",
} as const;

/** The CEL parse error of an expression, or undefined when it parses. */
export function celSyntaxError(expression: string): string | undefined {
  try {
    parseCel(expression);
    return undefined;
  } catch (err) {
    return (err as Error).message.split("\n")[0];
  }
}

/** The access_log entries for one direction's choices; problems for unknown providers and bad filters. */
export function accessLogEntries(mesh: MeshConfig, choices: readonly AccessLogChoice[], problems: TranslationProblem[], where: string): EnvoyJson[] {
  const out: EnvoyJson[] = [];
  for (const choice of choices) {
    const provider = findProvider(mesh, choice.provider);
    if (!provider) {
      problems.push({ resource: choice.source ?? where, message: `access log provider "${choice.provider}" is not defined in meshConfig.extensionProviders; no access log is written for it. Define it or fix the name.` });
      continue;
    }
    if (provider.kind !== "file") {
      problems.push({ resource: choice.source ?? where, message: `provider "${choice.provider}" is a ${provider.kind} provider, not an access log provider (envoyFileAccessLog); it is skipped for access logging.` });
      continue;
    }
    const logFormat: EnvoyJson =
      provider.encoding === "JSON"
        ? { json_format: { ...(provider.labels ?? ISTIO_JSON_FORMAT) } }
        : { text_format_source: { inline_string: textFormat(provider.format) } };
    const entry: EnvoyJson = { name: ACCESS_LOG_NAME.file };
    if (choice.filter !== undefined) {
      const error = celSyntaxError(choice.filter);
      if (error) {
        // An unparseable filter would make Envoy reject the whole listener: log unfiltered instead.
        problems.push({ resource: choice.source ?? where, message: `accessLogging filter expression ${JSON.stringify(choice.filter)} is not valid CEL (${error}); the log is written unfiltered. Fix the expression, e.g. "response.code >= 400".` });
      } else {
        entry.filter = { extension_filter: { name: ACCESS_LOG_NAME.cel, typed_config: { "@type": ACCESS_LOG_TYPE.cel, expression: choice.filter } } };
      }
    }
    entry.typed_config = { "@type": ACCESS_LOG_TYPE.file, path: provider.path, log_format: logFormat };
    out.push(entry);
  }
  return out;
}

/** Istio appends the newline a custom TEXT format leaves out (Envoy writes lines verbatim). */
function textFormat(format: string | undefined): string {
  if (!format) return ISTIO_TEXT_FORMAT;
  return format.endsWith("\n") ? format : `${format}\n`;
}
