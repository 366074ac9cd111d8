// Small builders for the Envoy v3 proto3-JSON shapes that listeners, routes and gateways
// share: typed Any configs, durations, fractional percents, config sources. Keeping them in
// one place means one spelling of each `@type` URL and one duration format.
import type { EnvoyJson } from "./types.ts";

/** The `@type` URLs of the typed configs this room emits. */
export const EnvoyType = {
  hcm: "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
  tcpProxy: "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
  router: "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router",
  fault: "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault",
  cors: "type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors",
  corsPolicy: "type.googleapis.com/envoy.extensions.filters.http.cors.v3.CorsPolicy",
  tlsInspector: "type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector",
  httpInspector: "type.googleapis.com/envoy.extensions.filters.listener.http_inspector.v3.HttpInspector",
  downstreamTls: "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
  previousHosts: "type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate",
} as const;

/** Envoy's well-known filter names, as Istio spells them. */
export const FilterName = {
  hcm: "envoy.filters.network.http_connection_manager",
  tcpProxy: "envoy.filters.network.tcp_proxy",
  router: "envoy.filters.http.router",
  fault: "envoy.filters.http.fault",
  cors: "envoy.filters.http.cors",
  tlsInspector: "envoy.filters.listener.tls_inspector",
  httpInspector: "envoy.filters.listener.http_inspector",
  tlsTransport: "envoy.transport_sockets.tls",
  previousHosts: "envoy.retry_host_predicates.previous_hosts",
} as const;

/** The ALPN values http_inspector reports for plaintext HTTP: Istio's sniffing match. */
export const PLAINTEXT_HTTP_ALPN: readonly string[] = ["http/1.0", "http/1.1", "h2c"];

/** Names of the clusters Istio always has. */
export const SpecialCluster = {
  passthrough: "PassthroughCluster",
  blackHole: "BlackHoleCluster",
  inboundPassthrough: "InboundPassthroughCluster",
} as const;

export function typed(type: string, fields: EnvoyJson = {}): EnvoyJson {
  return { "@type": type, ...fields };
}

/** A routes-from-ADS config source, as every RDS reference in this room uses. */
export function adsConfigSource(): EnvoyJson {
  return { ads: {}, resource_api_version: "V3" };
}

export function socketAddress(address: string, port: number): EnvoyJson {
  return { socket_address: { address, port_value: port } };
}

const unitNanos: Record<string, bigint> = {
  h: 3_600_000_000_000n,
  m: 60_000_000_000n,
  s: 1_000_000_000n,
  ms: 1_000_000n,
  us: 1_000n,
  µs: 1_000n,
  ns: 1n,
};

/**
 * Istio writes durations Go-style (`1h30m`, `1.5s`, `100ms`); proto3 JSON wants seconds
 * with 0, 3, 6 or 9 fractional digits (`5400s`, `1.500s`, `0.100s`). Returns undefined for
 * text that is not a duration (validation should have caught it; callers report it).
 */
export function toEnvoyDuration(text: string): string | undefined {
  const trimmed = text.trim();
  if (trimmed === "0") return "0s";
  const part = /(\d+(?:\.\d+)?|\.\d+)(h|ms|us|µs|ns|m|s)/y;
  let nanos = 0n;
  let index = 0;
  while (index < trimmed.length) {
    part.lastIndex = index;
    const found = part.exec(trimmed);
    if (!found) return undefined;
    const [whole, fracPart = ""] = found[1].split(".");
    const unit = unitNanos[found[2]];
    nanos += BigInt(whole === "" ? "0" : whole) * unit;
    if (fracPart !== "") {
      nanos += (BigInt(fracPart) * unit) / 10n ** BigInt(fracPart.length);
    }
    index = part.lastIndex;
  }
  if (index === 0) return undefined;
  return formatNanos(nanos);
}

function formatNanos(nanos: bigint): string {
  const seconds = nanos / 1_000_000_000n;
  const fraction = nanos % 1_000_000_000n;
  if (fraction === 0n) return `${seconds}s`;
  let digits = fraction.toString().padStart(9, "0");
  while (digits.length > 3 && digits.endsWith("000")) digits = digits.slice(0, -3);
  return `${seconds}.${digits}s`;
}

/** Whole seconds of a duration (CORS max_age is a string of seconds). */
export function durationSeconds(text: string): number | undefined {
  const envoy = toEnvoyDuration(text);
  if (envoy === undefined) return undefined;
  return Math.floor(Number(envoy.slice(0, -1)));
}

/**
 * Istio's Percent (a double, 0–100) as Envoy's FractionalPercent per million, so that
 * fractions like 0.1 % survive. Values are clamped to [0, 100].
 */
export function percentToFractional(value: number): EnvoyJson {
  const clamped = Math.min(100, Math.max(0, value));
  return { numerator: Math.round(clamped * 10_000), denominator: "MILLION" };
}

/** An integer percent as Envoy's FractionalPercent per hundred. */
export function wholePercent(value: number): EnvoyJson {
  return { numerator: value, denominator: "HUNDRED" };
}

/** Sorted keys of a record, so output never depends on YAML key order. */
export function sortedEntries<V>(record: Record<string, V> | undefined): [string, V][] {
  return Object.entries(record ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

export function byName(a: EnvoyJson, b: EnvoyJson): number {
  const x = String(a.name);
  const y = String(b.name);
  return x < y ? -1 : x > y ? 1 : 0;
}
