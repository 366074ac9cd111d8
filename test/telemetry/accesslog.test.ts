import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  newAccessLogRecord,
  resetAccessLogRecord,
  compileTextFormat,
  compileJsonFormat,
  formatterFromMeshConfig,
  ISTIO_TEXT_FORMAT,
  ISTIO_JSON_FORMAT,
  AccessLogFormatError,
  openAccessLog,
  type AccessLogRecord,
} from "../../src/telemetry/index.ts";

const START = Date.UTC(2026, 10, 24, 6, 0, 0, 123); // 2026-11-24T06:00:00.123Z

function record(over: Partial<AccessLogRecord>): AccessLogRecord {
  const r = newAccessLogRecord();
  Object.assign(r, {
    startTimeMs: START,
    method: "GET",
    path: "/sentiment",
    authority: "sa-logic:80",
    protocol: "HTTP/1.1",
    requestHeaders: { "user-agent": "curl/8.5.0", "x-request-id": "7d1c2a3b-0000-4000-8000-000000000001" },
    downstreamLocalAddress: "10.96.0.5:80",
    downstreamRemoteAddress: "10.0.0.1:39000",
    routeName: "default",
    durationMs: 0,
    ...over,
  });
  return r;
}

const cluster = "outbound|80||sa-logic.default.svc.cluster.local";
const text = compileTextFormat(ISTIO_TEXT_FORMAT);

// Each expected line is written out by hand from Istio's default format: the
// fields in order, `-` for every value the request did not have.
const table: { name: string; rec: AccessLogRecord; line: string }[] = [
  {
    name: "success",
    rec: record({
      responseCode: 200, responseCodeDetails: "via_upstream", bytesReceived: 0, bytesSent: 42, durationMs: 7.8,
      responseHeaders: { "x-envoy-upstream-service-time": "6" }, upstreamHost: "10.0.0.2:8080", upstreamCluster: cluster,
      upstreamLocalAddress: "10.0.0.1:40000", upstreamRequestAttemptCount: 1,
    }),
    line: `[2026-11-24T06:00:00.123Z] "GET /sentiment HTTP/1.1" 200 - via_upstream - "-" 0 42 7 6 "-" "curl/8.5.0" "7d1c2a3b-0000-4000-8000-000000000001" "sa-logic:80" "10.0.0.2:8080" ${cluster} 10.0.0.1:40000 10.96.0.5:80 10.0.0.1:39000 - default\n`,
  },
  {
    name: "404 NR",
    rec: record({ responseCode: 404, responseFlags: "NR", responseCodeDetails: "route_not_found", routeName: "" }),
    line: `[2026-11-24T06:00:00.123Z] "GET /sentiment HTTP/1.1" 404 NR route_not_found - "-" 0 0 0 - "-" "curl/8.5.0" "7d1c2a3b-0000-4000-8000-000000000001" "sa-logic:80" "-" - - 10.96.0.5:80 10.0.0.1:39000 - -\n`,
  },
  {
    name: "503 UH",
    rec: record({ responseCode: 503, responseFlags: "UH", responseCodeDetails: "no_healthy_upstream", bytesSent: 19, upstreamCluster: cluster }),
    line: `[2026-11-24T06:00:00.123Z] "GET /sentiment HTTP/1.1" 503 UH no_healthy_upstream - "-" 0 19 0 - "-" "curl/8.5.0" "7d1c2a3b-0000-4000-8000-000000000001" "sa-logic:80" "-" ${cluster} - 10.96.0.5:80 10.0.0.1:39000 - default\n`,
  },
  {
    name: "503 UF",
    rec: record({
      responseCode: 503, responseFlags: "UF,URX", responseCodeDetails: "upstream_reset_before_response_started{connection_failure}",
      upstreamTransportFailureReason: "delayed_connect_error:_Connection_refused", bytesSent: 91, durationMs: 3,
      upstreamHost: "10.0.0.2:8080", upstreamCluster: cluster,
    }),
    line: `[2026-11-24T06:00:00.123Z] "GET /sentiment HTTP/1.1" 503 UF,URX upstream_reset_before_response_started{connection_failure} - "delayed_connect_error:_Connection_refused" 0 91 3 - "-" "curl/8.5.0" "7d1c2a3b-0000-4000-8000-000000000001" "sa-logic:80" "10.0.0.2:8080" ${cluster} - 10.96.0.5:80 10.0.0.1:39000 - default\n`,
  },
  {
    name: "504 UT",
    rec: record({
      method: "POST", responseCode: 504, responseFlags: "UT", responseCodeDetails: "response_timeout", bytesReceived: 17, bytesSent: 24,
      durationMs: 1000, upstreamHost: "10.0.0.2:8080", upstreamCluster: cluster, upstreamLocalAddress: "10.0.0.1:40002",
      requestHeaders: { "user-agent": "curl/8.5.0", "x-request-id": "r-504", "x-forwarded-for": "192.0.2.7" },
    }),
    line: `[2026-11-24T06:00:00.123Z] "POST /sentiment HTTP/1.1" 504 UT response_timeout - "-" 17 24 1000 - "192.0.2.7" "curl/8.5.0" "r-504" "sa-logic:80" "10.0.0.2:8080" ${cluster} 10.0.0.1:40002 10.96.0.5:80 10.0.0.1:39000 - default\n`,
  },
  {
    name: "403 RBAC",
    rec: record({ responseCode: 403, responseCodeDetails: "rbac_access_denied_matched_policy[ns[default]-policy[deny-all]-rule[0]]", bytesSent: 19, protocol: "HTTP/2", requestedServerName: "outbound_.80_._.sa-logic.default.svc.cluster.local" }),
    line: `[2026-11-24T06:00:00.123Z] "GET /sentiment HTTP/2" 403 - rbac_access_denied_matched_policy[ns[default]-policy[deny-all]-rule[0]] - "-" 0 19 0 - "-" "curl/8.5.0" "7d1c2a3b-0000-4000-8000-000000000001" "sa-logic:80" "-" - - 10.96.0.5:80 10.0.0.1:39000 outbound_.80_._.sa-logic.default.svc.cluster.local default\n`,
  },
  {
    name: "fault-injected FI",
    rec: record({ responseCode: 500, responseFlags: "FI", responseCodeDetails: "fault_filter_abort", bytesSent: 18, upstreamCluster: cluster }),
    line: `[2026-11-24T06:00:00.123Z] "GET /sentiment HTTP/1.1" 500 FI fault_filter_abort - "-" 0 18 0 - "-" "curl/8.5.0" "7d1c2a3b-0000-4000-8000-000000000001" "sa-logic:80" "-" ${cluster} - 10.96.0.5:80 10.0.0.1:39000 - default\n`,
  },
];

for (const row of table) {
  test(`Istio default text format: ${row.name}`, () => {
    assert.equal(text(row.rec), row.line);
  });
}

test("X-ENVOY-ORIGINAL-PATH wins over :path when present (REQ(X?Y))", () => {
  const r = record({ requestHeaders: { "x-envoy-original-path": "/before-rewrite" }, path: "/after" });
  assert.match(text(r), /"GET \/before-rewrite HTTP\/1.1"/);
});

test("custom operators: truncation, trailers, long flags, START_TIME formats, literal %", () => {
  const f = compileTextFormat(
    "%REQ(USER-AGENT):4% %TRAILER(GRPC-STATUS)% %RESPONSE_FLAGS_LONG% %START_TIME(%s)% %START_TIME(%Y/%m/%d %H:%M:%S.%3f)% 100%% %UPSTREAM_REQUEST_ATTEMPT_COUNT% %DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT% %REQUEST_DURATION% %RESPONSE_DURATION%",
  );
  const r = record({
    responseFlags: "UF,URX", responseTrailers: { "grpc-status": "14" }, upstreamRequestAttemptCount: 3, requestDurationMs: 2, responseDurationMs: -1,
  });
  assert.equal(
    f(r),
    `curl 14 UpstreamConnectionFailure,UpstreamRetryLimitExceeded ${Math.floor(START / 1000)} 2026/11/24 06:00:00.123 100% 3 10.0.0.1 2 -`,
  );
});

test("a bad format string is a clear error naming the column and the fix", () => {
  assert.throws(() => compileTextFormat("ok %NOT_AN_OP%"), (e: unknown) => e instanceof AccessLogFormatError && /column 4: unknown command operator %NOT_AN_OP%/.test(e.message));
  assert.throws(() => compileTextFormat("%REQ%"), /needs an argument/);
  assert.throws(() => compileTextFormat("50% off"), /not a command operator/);
  assert.throws(() => compileTextFormat("%DURATION(x)%"), /takes no argument/);
});

test("Istio's JSON encoding: its keys in order, numbers typed, missing values null", () => {
  const json = compileJsonFormat(ISTIO_JSON_FORMAT);
  const line = json(table[0].rec);
  assert.ok(line.endsWith("}\n"));
  const obj = JSON.parse(line);
  assert.deepEqual(Object.keys(obj), [
    "authority", "bytes_received", "bytes_sent", "connection_termination_details", "downstream_local_address",
    "downstream_remote_address", "duration", "method", "path", "protocol", "request_id", "requested_server_name",
    "response_code", "response_code_details", "response_flags", "route_name", "start_time", "upstream_cluster",
    "upstream_host", "upstream_local_address", "upstream_service_time", "upstream_transport_failure_reason",
    "user_agent", "x_forwarded_for",
  ]);
  assert.equal(obj.response_code, 200);
  assert.equal(obj.bytes_sent, 42);
  assert.equal(obj.duration, 7);
  assert.equal(obj.connection_termination_details, null);
  assert.equal(obj.x_forwarded_for, null);
  assert.equal(obj.upstream_service_time, "6");
  assert.equal(obj.start_time, "2026-11-24T06:00:00.123Z");
  assert.equal(obj.response_flags, "-");
});

test("mesh config: TEXT gets a newline appended, JSON custom keys, bad JSON is a clear error", () => {
  const t = formatterFromMeshConfig("TEXT", "%RESPONSE_CODE% %REQ(:METHOD)%");
  assert.equal(t(table[1].rec), "404 GET\n");
  const j = formatterFromMeshConfig("JSON", '{"code":"%RESPONSE_CODE%","who":"id=%REQ(X-REQUEST-ID)%"}');
  assert.deepEqual(JSON.parse(j(table[1].rec)), { code: 404, who: "id=7d1c2a3b-0000-4000-8000-000000000001" });
  assert.throws(() => formatterFromMeshConfig("JSON", "{nope"), /accessLogEncoding is JSON but accessLogFormat is not a JSON object/);
  assert.equal(formatterFromMeshConfig(undefined, undefined)(table[0].rec), table[0].line);
});

test("a reset record formats as all-missing values and keeps its shape", () => {
  const r = record({ responseCode: 200, upstreamHost: "10.0.0.2:8080" });
  const keys = Object.keys(r);
  resetAccessLogRecord(r);
  assert.deepEqual(Object.keys(r), keys);
  assert.equal(compileTextFormat("%START_TIME% %RESPONSE_CODE% %DURATION% %UPSTREAM_HOST% %REQ(:PATH)%")(r), "- 0 - - -");
});

test("the file writer appends lines in order, buffered, and flushes on close", async () => {
  const dir = mkdtempSync(join(tmpdir(), "skiff-al-"));
  try {
    const path = join(dir, "access.log");
    const w = openAccessLog(path);
    for (const row of table) w.write(text(row.rec));
    // Nothing is written synchronously: the caller only appended to a buffer.
    assert.equal(w.written, 0);
    await w.close();
    assert.equal(readFileSync(path, "utf8"), table.map((r) => r.line).join(""));
    assert.equal(w.written, table.length);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the writer drops (and counts) lines beyond its bound instead of growing without limit", async () => {
  const dir = mkdtempSync(join(tmpdir(), "skiff-al-"));
  try {
    const w = openAccessLog(join(dir, "a.log"), { maxBufferedBytes: 100 });
    for (let i = 0; i < 10; i++) w.write("x".repeat(30) + "\n");
    assert.equal(w.dropped, 7);
    await w.close();
    assert.equal(readFileSync(join(dir, "a.log"), "utf8").split("\n").length - 1, 3);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("an access log file that cannot be opened closes its writer instead of throwing", async () => {
  const dir = mkdtempSync(join(tmpdir(), "skiff-al-"));
  try {
    const w = openAccessLog(join(dir, "no-such-dir", "a.log"));
    w.write("line\n");
    await new Promise((r) => setTimeout(r, 20));
    w.write("another\n");
    await w.close();
    assert.equal(w.written, 0, "nothing was handed to a destination that does not exist");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
