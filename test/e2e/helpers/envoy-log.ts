// Parses one access-log line in Envoy's default TEXT format as Istio configures it
// (accessLogEncoding TEXT, no accessLogFormat), field by field, so tests can compare
// each field with what the request should have produced.
export interface EnvoyLogLine {
  startTime: string;
  method: string;
  path: string;
  protocol: string;
  responseCode: number;
  responseFlags: string;
  responseCodeDetails: string;
  connectionTerminationDetails: string;
  upstreamTransportFailureReason: string;
  bytesReceived: number;
  bytesSent: number;
  duration: number;
  upstreamServiceTime: string;
  forwardedFor: string;
  userAgent: string;
  requestId: string;
  authority: string;
  upstreamHost: string;
  upstreamCluster: string;
  upstreamLocalAddress: string;
  downstreamLocalAddress: string;
  downstreamRemoteAddress: string;
  requestedServerName: string;
  routeName: string;
}

// [%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" %RESPONSE_CODE%
// %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS% %CONNECTION_TERMINATION_DETAILS%
// "%UPSTREAM_TRANSPORT_FAILURE_REASON%" %BYTES_RECEIVED% %BYTES_SENT% %DURATION%
// %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%"
// "%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%" %UPSTREAM_CLUSTER%
// %UPSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_REMOTE_ADDRESS%
// %REQUESTED_SERVER_NAME% %ROUTE_NAME%
const LINE =
  /^\[(\S+)\] "(\S+) (\S+) (\S+)" (\d+) (\S+) (\S+) (\S+) "([^"]*)" (\d+) (\d+) (\d+) (\S+) "([^"]*)" "([^"]*)" "([^"]*)" "([^"]*)" "([^"]*)" (\S+) (\S+) (\S+) (\S+) (\S+) (\S+)$/;

/** The fields of a TEXT access-log line, or undefined when the line is not one. */
export function parseEnvoyLine(line: string): EnvoyLogLine | undefined {
  const m = LINE.exec(line.trim());
  if (!m) return undefined;
  return {
    startTime: m[1],
    method: m[2],
    path: m[3],
    protocol: m[4],
    responseCode: Number(m[5]),
    responseFlags: m[6],
    responseCodeDetails: m[7],
    connectionTerminationDetails: m[8],
    upstreamTransportFailureReason: m[9],
    bytesReceived: Number(m[10]),
    bytesSent: Number(m[11]),
    duration: Number(m[12]),
    upstreamServiceTime: m[13],
    forwardedFor: m[14],
    userAgent: m[15],
    requestId: m[16],
    authority: m[17],
    upstreamHost: m[18],
    upstreamCluster: m[19],
    upstreamLocalAddress: m[20],
    downstreamLocalAddress: m[21],
    downstreamRemoteAddress: m[22],
    requestedServerName: m[23],
    routeName: m[24],
  };
}
