// Access-log config as the proxy compiles it from HCM/tcp_proxy `access_log`: formats,
// the CEL filter Istio's Telemetry API emits, and the config errors that NACK.
import { test } from "node:test";
import assert from "node:assert/strict";
import { compileAccessLogs, writeAccessLogs } from "../../src/proxy/filters/access-log.ts";
import { ConfigError } from "../../src/proxy/json.ts";
import { newAccessLogRecord, type AccessLogWriter } from "../../src/telemetry/index.ts";

const FILE = "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog";
const CEL = "type.googleapis.com/envoy.extensions.access_loggers.filters.cel.v3.ExpressionFilter";

function collector(): { open: (path: string) => AccessLogWriter; lines: Map<string, string[]> } {
  const lines = new Map<string, string[]>();
  return {
    lines,
    open: (path) => {
      if (!lines.has(path)) lines.set(path, []);
      return { write: (l: string) => lines.get(path)!.push(l), close: async () => {} } as unknown as AccessLogWriter;
    },
  };
}

function record(code: number, path = "/x") {
  const r = newAccessLogRecord();
  r.method = "GET";
  r.path = path;
  r.responseCode = code;
  r.requestHeaders = { "x-request-id": "rid-1", "x-debug": code === 200 ? "true" : undefined };
  return r;
}

test("a CEL filter (Telemetry filter.expression) decides per request; entries without one log everything", () => {
  const c = collector();
  const sinks = compileAccessLogs(
    [
      { name: "envoy.access_loggers.file", filter: { extension_filter: { name: "envoy.access_loggers.extension_filters.cel", typed_config: { "@type": CEL, expression: "response.code >= 400" } } }, typed_config: { "@type": FILE, path: "errors", log_format: { text_format_source: { inline_string: "%RESPONSE_CODE% %REQ(:PATH)%\n" } } } },
      { name: "envoy.access_loggers.file", filter: { extension_filter: { typed_config: { "@type": CEL, expression: "request.headers['x-debug'] == 'true'" } } }, typed_config: { "@type": FILE, path: "debug", log_format: { text_format_source: { inline_string: "%REQ(X-REQUEST-ID)%\n" } } } },
      { name: "envoy.access_loggers.file", typed_config: { "@type": FILE, path: "all", log_format: { json_format: { code: "%RESPONSE_CODE%", path: "%REQ(:PATH)%" } } } },
    ],
    "access_log",
    c.open,
  );
  for (const code of [200, 404, 503]) writeAccessLogs(sinks, record(code, `/p${code}`));
  assert.deepEqual(c.lines.get("errors"), ["404 /p404\n", "503 /p503\n"]);
  assert.deepEqual(c.lines.get("debug"), ["rid-1\n"]);
  assert.deepEqual(c.lines.get("all")!.map((l) => JSON.parse(l) as unknown), [
    { code: 200, path: "/p200" },
    { code: 404, path: "/p404" },
    { code: 503, path: "/p503" },
  ]);
});

test("config errors name the field: bad CEL, unknown operator, unknown logger, missing path", () => {
  const c = collector();
  const err = (entry: Record<string, unknown>): ConfigError => {
    try {
      compileAccessLogs([entry], "hcm.access_log", c.open);
    } catch (e) {
      assert.ok(e instanceof ConfigError);
      return e;
    }
    assert.fail("expected a ConfigError");
  };
  const e1 = err({ name: "f", filter: { extension_filter: { typed_config: { "@type": CEL, expression: "response.code >=" } } }, typed_config: { "@type": FILE, path: "x" } });
  assert.equal(e1.path, "hcm.access_log[0].filter.extension_filter.typed_config.expression");
  assert.match(e1.reason, /not valid CEL/);
  const e2 = err({ name: "f", typed_config: { "@type": FILE, path: "x", log_format: { text_format_source: { inline_string: "%NOT_AN_OPERATOR%" } } } });
  assert.match(`${e2.path}: ${e2.reason}`, /log_format.*NOT_AN_OPERATOR/);
  const e3 = err({ name: "envoy.access_loggers.http_grpc", typed_config: { "@type": "type.googleapis.com/envoy.extensions.access_loggers.grpc.v3.HttpGrpcAccessLogConfig" } });
  assert.match(e3.reason, /not implemented/);
  const e4 = err({ name: "f", typed_config: { "@type": FILE } });
  assert.equal(e4.path, "hcm.access_log[0].typed_config.path");
});

test("no log_format: Envoy's default format", () => {
  const c = collector();
  const sinks = compileAccessLogs([{ name: "f", typed_config: { "@type": FILE, path: "d" } }], "a", c.open);
  const r = record(200, "/default");
  r.protocol = "HTTP/1.1";
  writeAccessLogs(sinks, r);
  assert.match(c.lines.get("d")![0], /^\[\S+\] "GET \/default HTTP\/1\.1" 200 - 0 0 - - "-" "-" "rid-1" "-" "-"\n$/);
});
