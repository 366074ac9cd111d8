// Istio's built-in access log formats (meshConfig accessLogEncoding TEXT / JSON with
// no accessLogFormat), and the mesh-config rules for choosing one.

import { compileJsonFormat, compileTextFormat, AccessLogFormatError, type TextFormatter } from "./format.ts";

/** Istio's default TEXT format (Istio 1.22+: %UPSTREAM_CLUSTER_RAW%), newline included. */
export const ISTIO_TEXT_FORMAT =
  '[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" ' +
  "%RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS% %CONNECTION_TERMINATION_DETAILS% " +
  '"%UPSTREAM_TRANSPORT_FAILURE_REASON%" %BYTES_RECEIVED% %BYTES_SENT% %DURATION% ' +
  '%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%" ' +
  '"%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%" %UPSTREAM_CLUSTER_RAW% ' +
  "%UPSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_REMOTE_ADDRESS% " +
  "%REQUESTED_SERVER_NAME% %ROUTE_NAME%\n";

/**
 * Istio's default JSON keys. Istio defines them as a protobuf Struct, which is
 * serialised with its keys sorted, so Envoy writes them in alphabetical order.
 */
export const ISTIO_JSON_FORMAT: Readonly<Record<string, string>> = Object.freeze({
  authority: "%REQ(:AUTHORITY)%",
  bytes_received: "%BYTES_RECEIVED%",
  bytes_sent: "%BYTES_SENT%",
  connection_termination_details: "%CONNECTION_TERMINATION_DETAILS%",
  downstream_local_address: "%DOWNSTREAM_LOCAL_ADDRESS%",
  downstream_remote_address: "%DOWNSTREAM_REMOTE_ADDRESS%",
  duration: "%DURATION%",
  method: "%REQ(:METHOD)%",
  path: "%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%",
  protocol: "%PROTOCOL%",
  request_id: "%REQ(X-REQUEST-ID)%",
  requested_server_name: "%REQUESTED_SERVER_NAME%",
  response_code: "%RESPONSE_CODE%",
  response_code_details: "%RESPONSE_CODE_DETAILS%",
  response_flags: "%RESPONSE_FLAGS%",
  route_name: "%ROUTE_NAME%",
  start_time: "%START_TIME%",
  upstream_cluster: "%UPSTREAM_CLUSTER_RAW%",
  upstream_host: "%UPSTREAM_HOST%",
  upstream_local_address: "%UPSTREAM_LOCAL_ADDRESS%",
  upstream_service_time: "%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)%",
  upstream_transport_failure_reason: "%UPSTREAM_TRANSPORT_FAILURE_REASON%",
  user_agent: "%REQ(USER-AGENT)%",
  x_forwarded_for: "%REQ(X-FORWARDED-FOR)%",
});

export type AccessLogEncoding = "TEXT" | "JSON";

/**
 * The formatter for meshConfig's accessLogEncoding + accessLogFormat, as Istio
 * builds it: TEXT uses the given format (a newline appended if missing) or the
 * default; JSON parses accessLogFormat as a JSON object of key → format string, or
 * uses Istio's default keys. A JSON format that does not parse is an error here
 * (Istio logs and falls back; Skiff's config validation should reject it earlier).
 */
export function formatterFromMeshConfig(encoding: AccessLogEncoding | undefined, format: string | undefined, source = "meshConfig.accessLogFormat"): TextFormatter {
  if ((encoding ?? "TEXT") === "TEXT") {
    if (!format) return compileTextFormat(ISTIO_TEXT_FORMAT, source);
    return compileTextFormat(format.endsWith("\n") ? format : format + "\n", source);
  }
  if (!format) return compileJsonFormat(ISTIO_JSON_FORMAT, source);
  let parsed: unknown;
  try {
    parsed = JSON.parse(format);
  } catch (err) {
    throw new AccessLogFormatError(`${source}: accessLogEncoding is JSON but accessLogFormat is not a JSON object (${(err as Error).message}); write e.g. {"code": "%RESPONSE_CODE%"}`);
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed) || Object.keys(parsed).length === 0) {
    return compileJsonFormat(ISTIO_JSON_FORMAT, source);
  }
  return compileJsonFormat(parsed as Record<string, string>, source);
}
