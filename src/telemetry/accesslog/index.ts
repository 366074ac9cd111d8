export {
  newAccessLogRecord,
  resetAccessLogRecord,
  longResponseFlags,
  RESPONSE_FLAGS,
  type AccessLogRecord,
  type HeaderBag,
} from "./record.ts";
export {
  compileTextFormat,
  compileJsonFormat,
  AccessLogFormatError,
  SUPPORTED_OPERATORS,
  type TextFormatter,
} from "./format.ts";
export { compileTimeFormat, DEFAULT_START_TIME_FORMAT, type TimeFormatter } from "./strftime.ts";
export { ISTIO_TEXT_FORMAT, ISTIO_JSON_FORMAT, formatterFromMeshConfig, type AccessLogEncoding } from "./istio-formats.ts";
export { AccessLogWriter, openAccessLog, type AccessLogWriterOptions } from "./writer.ts";
