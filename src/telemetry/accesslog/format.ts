// Envoy's access-log command operators. A format string is parsed once into a list
// of pieces (literal text or an operator bound to its arguments); formatting a
// record walks that list. Missing values print `-` as Envoy does; `:N` truncates.

import { longResponseFlags, type AccessLogRecord, type HeaderBag } from "./record.ts";
import { compileTimeFormat, DEFAULT_START_TIME_FORMAT } from "./strftime.ts";

/** What an operator yields: a string, a number, or undefined for "no value". */
type Value = string | number | undefined;
type Getter = (r: AccessLogRecord) => Value;

export class AccessLogFormatError extends Error {}

interface OperatorSpec {
  /** Whether the operator takes `(...)` and whether that is required. */
  arg: "none" | "optional" | "required";
  make(arg: string | undefined, where: string): Getter;
}

const str = (s: string): Value => (s === "" ? undefined : s);
const ms = (n: number): Value => (n < 0 ? undefined : Math.floor(n));

function headerValue(bag: HeaderBag, name: string): string | undefined {
  const v = bag[name];
  if (v === undefined) return undefined;
  return Array.isArray(v) ? v.join(",") : v;
}

/** `:method` and friends live on the record, not in the header bag (HTTP/1 has none). */
function requestHeaderGetter(name: string): Getter {
  switch (name) {
    case ":method": return (r) => str(r.method);
    case ":path": return (r) => str(r.path);
    case ":authority": case "host": return (r) => str(r.authority) ?? headerValue(r.requestHeaders, "host");
    case ":scheme": return (r) => str(r.scheme);
    default: return (r) => headerValue(r.requestHeaders, name);
  }
}

function headerOperator(which: "req" | "resp" | "trailer"): OperatorSpec {
  return {
    arg: "required",
    make(arg, where) {
      const [main, alt, extra] = (arg ?? "").split("?");
      if (!main || extra !== undefined || alt === "") {
        throw new AccessLogFormatError(`${where}: header operator needs (NAME) or (NAME?ALTERNATIVE), got (${arg ?? ""})`);
      }
      const get = (name: string): Getter => {
        const n = name.toLowerCase();
        if (which === "req") return requestHeaderGetter(n);
        if (which === "resp") return (r) => headerValue(r.responseHeaders, n);
        return (r) => headerValue(r.responseTrailers, n);
      };
      const first = get(main);
      if (alt === undefined) return first;
      const second = get(alt);
      return (r) => first(r) ?? second(r);
    },
  };
}

const GRPC_NAMES = [
  "OK", "Canceled", "Unknown", "InvalidArgument", "DeadlineExceeded", "NotFound", "AlreadyExists",
  "PermissionDenied", "ResourceExhausted", "FailedPrecondition", "Aborted", "OutOfRange",
  "Unimplemented", "Internal", "Unavailable", "DataLoss", "Unauthenticated",
];

function withoutPort(addr: string): Value {
  if (addr === "") return undefined;
  if (addr.startsWith("[")) return addr.slice(0, addr.indexOf("]") + 1);
  const colon = addr.lastIndexOf(":");
  return colon > 0 && addr.indexOf(":") === colon ? addr.slice(0, colon) : addr;
}

function portOf(addr: string): Value {
  const colon = addr.lastIndexOf(":");
  if (colon < 0 || colon === addr.length - 1) return undefined;
  const p = Number(addr.slice(colon + 1));
  return Number.isInteger(p) ? p : undefined;
}

const simple = (get: Getter): OperatorSpec => ({ arg: "none", make: () => get });

const OPERATORS: Record<string, OperatorSpec> = {
  START_TIME: {
    arg: "optional",
    make(arg) {
      const f = compileTimeFormat(arg === undefined || arg === "" ? DEFAULT_START_TIME_FORMAT : arg);
      return (r) => (r.startTimeMs > 0 ? f(r.startTimeMs, r.startTimeSubMsNs) : undefined);
    },
  },
  REQ: headerOperator("req"),
  RESP: headerOperator("resp"),
  TRAILER: headerOperator("trailer"),
  PROTOCOL: simple((r) => str(r.protocol)),
  RESPONSE_CODE: simple((r) => r.responseCode),
  RESPONSE_CODE_DETAILS: simple((r) => str(r.responseCodeDetails)),
  RESPONSE_FLAGS: simple((r) => (r.responseFlags === "" ? "-" : r.responseFlags)),
  RESPONSE_FLAGS_LONG: simple((r) => longResponseFlags(r.responseFlags)),
  CONNECTION_TERMINATION_DETAILS: simple((r) => str(r.connectionTerminationDetails)),
  UPSTREAM_TRANSPORT_FAILURE_REASON: simple((r) => str(r.upstreamTransportFailureReason)),
  BYTES_RECEIVED: simple((r) => r.bytesReceived),
  BYTES_SENT: simple((r) => r.bytesSent),
  DURATION: simple((r) => ms(r.durationMs)),
  REQUEST_DURATION: simple((r) => ms(r.requestDurationMs)),
  RESPONSE_DURATION: simple((r) => ms(r.responseDurationMs)),
  RESPONSE_TX_DURATION: simple((r) => ms(r.responseTxDurationMs)),
  UPSTREAM_HOST: simple((r) => str(r.upstreamHost)),
  UPSTREAM_CLUSTER: simple((r) => str(r.upstreamCluster)),
  UPSTREAM_CLUSTER_RAW: simple((r) => str(r.upstreamCluster)),
  UPSTREAM_LOCAL_ADDRESS: simple((r) => str(r.upstreamLocalAddress)),
  UPSTREAM_REMOTE_ADDRESS: simple((r) => str(r.upstreamHost)),
  UPSTREAM_REQUEST_ATTEMPT_COUNT: simple((r) => r.upstreamRequestAttemptCount),
  DOWNSTREAM_LOCAL_ADDRESS: simple((r) => str(r.downstreamLocalAddress)),
  DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT: simple((r) => withoutPort(r.downstreamLocalAddress)),
  DOWNSTREAM_LOCAL_PORT: simple((r) => portOf(r.downstreamLocalAddress)),
  DOWNSTREAM_REMOTE_ADDRESS: simple((r) => str(r.downstreamRemoteAddress)),
  DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT: simple((r) => withoutPort(r.downstreamRemoteAddress)),
  DOWNSTREAM_REMOTE_PORT: simple((r) => portOf(r.downstreamRemoteAddress)),
  DOWNSTREAM_DIRECT_REMOTE_ADDRESS: simple((r) => str(r.downstreamDirectRemoteAddress)),
  DOWNSTREAM_DIRECT_REMOTE_ADDRESS_WITHOUT_PORT: simple((r) => withoutPort(r.downstreamDirectRemoteAddress)),
  DOWNSTREAM_PEER_URI_SAN: simple((r) => str(r.downstreamPeerUriSan)),
  DOWNSTREAM_LOCAL_URI_SAN: simple((r) => str(r.downstreamLocalUriSan)),
  REQUESTED_SERVER_NAME: simple((r) => str(r.requestedServerName)),
  ROUTE_NAME: simple((r) => str(r.routeName)),
  GRPC_STATUS: simple((r) => (r.grpcStatus < 0 ? undefined : (GRPC_NAMES[r.grpcStatus] ?? String(r.grpcStatus)))),
  GRPC_STATUS_NUMBER: simple((r) => (r.grpcStatus < 0 ? undefined : r.grpcStatus)),
  HOSTNAME: { arg: "none", make: () => { const h = hostname(); return () => h; } },
};

let cachedHostname: string | undefined;
function hostname(): string {
  if (cachedHostname === undefined) {
    // Lazily, and without importing node:os at module load for a rarely used operator.
    cachedHostname = process.env.HOSTNAME ?? "-";
  }
  return cachedHostname;
}

/** Names of all supported operators (documentation and error messages). */
export const SUPPORTED_OPERATORS: readonly string[] = Object.keys(OPERATORS).sort();

type Piece = string | { get: Getter; max: number };

const OPERATOR_RE = /%([A-Z][A-Z0-9_]*)(?:\(([^)]*)\))?(?::(\d+))?%/y;

function parse(format: string, source: string): Piece[] {
  const pieces: Piece[] = [];
  let literal = "";
  let i = 0;
  while (i < format.length) {
    const c = format[i];
    if (c !== "%") {
      literal += c;
      i++;
      continue;
    }
    if (format[i + 1] === "%") {
      literal += "%";
      i += 2;
      continue;
    }
    OPERATOR_RE.lastIndex = i;
    const m = OPERATOR_RE.exec(format);
    const where = `${source}: column ${i + 1}`;
    if (!m) {
      throw new AccessLogFormatError(
        `${where}: "${format.slice(i, i + 24)}" is not a command operator; write %NAME%, %NAME(ARG)% or %NAME(ARG):LENGTH%, and %% for a literal percent sign`,
      );
    }
    const [whole, name, arg, max] = m;
    const spec = OPERATORS[name];
    if (!spec) {
      throw new AccessLogFormatError(`${where}: unknown command operator %${name}%; supported: ${SUPPORTED_OPERATORS.join(", ")}`);
    }
    if (spec.arg === "required" && arg === undefined) throw new AccessLogFormatError(`${where}: %${name}% needs an argument, e.g. %${name}(X-REQUEST-ID)%`);
    if (spec.arg === "none" && arg !== undefined) throw new AccessLogFormatError(`${where}: %${name}% takes no argument; remove (${arg})`);
    if (literal !== "") pieces.push(literal);
    literal = "";
    pieces.push({ get: spec.make(arg, where), max: max === undefined ? -1 : Number(max) });
    i += whole.length;
  }
  if (literal !== "") pieces.push(literal);
  return pieces;
}

function toText(v: Value, max: number): string {
  if (v === undefined) return "-";
  const s = typeof v === "number" ? String(v) : v;
  return max >= 0 && s.length > max ? s.slice(0, max) : s;
}

export type TextFormatter = (r: AccessLogRecord) => string;

/** Compiles an Envoy text format string; throws AccessLogFormatError naming the column. */
export function compileTextFormat(format: string, source = "accessLogFormat"): TextFormatter {
  const pieces = parse(format, source);
  return (r) => {
    let out = "";
    for (let k = 0; k < pieces.length; k++) {
      const p = pieces[k];
      out += typeof p === "string" ? p : toText(p.get(r), p.max);
    }
    return out;
  };
}

/**
 * Compiles Envoy's JSON format (a flat object of key → format string). A value that
 * is exactly one operator keeps its type (numbers stay numbers, a missing value is
 * null), as Envoy's JSON formatter does; any other value is formatted as text.
 * Output is one line of JSON plus a newline, keys in the order given.
 */
export function compileJsonFormat(format: Readonly<Record<string, string>>, source = "accessLogFormat"): TextFormatter {
  const entries = Object.entries(format).map(([key, value]) => {
    if (typeof value !== "string") throw new AccessLogFormatError(`${source}: key "${key}" must be a format string`);
    const pieces = parse(value, `${source} key "${key}"`);
    return { prefix: JSON.stringify(key) + ":", pieces };
  });
  return (r) => {
    let out = "{";
    for (let e = 0; e < entries.length; e++) {
      const { prefix, pieces } = entries[e];
      if (e > 0) out += ",";
      out += prefix;
      if (pieces.length === 1 && typeof pieces[0] !== "string") {
        const p = pieces[0];
        const v = p.get(r);
        if (v === undefined) out += "null";
        else if (typeof v === "number") out += String(v);
        else out += JSON.stringify(p.max >= 0 && v.length > p.max ? v.slice(0, p.max) : v);
        continue;
      }
      let s = "";
      for (const p of pieces) s += typeof p === "string" ? p : toText(p.get(r), p.max);
      out += JSON.stringify(s);
    }
    return out + "}\n";
  };
}
