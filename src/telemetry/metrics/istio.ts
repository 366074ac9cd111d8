// Istio's standard metrics: names, types, buckets and labels as Istio's stats
// filter (istio/proxy, istio_stats) emits them, and the label values computed from
// the peer metadata the sidecars exchange. Label order is the order in which that
// filter pushes its tags, which is the order Envoy writes them on /stats/prometheus.

import { MetricsRegistry, type FamilyOverrides, type MetricFamily } from "./registry.ts";

/**
 * Envoy's default histogram buckets. Istio configures no bucket settings for its
 * `istiocustom` stats, so every standard histogram (durations in ms and sizes in
 * bytes alike) gets these.
 */
export const ISTIO_DURATION_BUCKETS_MS: readonly number[] = [
  0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000,
];
export const ISTIO_BYTES_BUCKETS: readonly number[] = ISTIO_DURATION_BUCKETS_MS;

/** Labels shared by HTTP and TCP metrics, in emission order, up to the protocol. */
const PEER_LABELS = [
  "reporter",
  "source_workload",
  "source_canonical_service",
  "source_canonical_revision",
  "source_workload_namespace",
  "source_principal",
  "source_app",
  "source_version",
  "source_cluster",
  "destination_workload",
  "destination_workload_namespace",
  "destination_principal",
  "destination_app",
  "destination_version",
  "destination_service",
  "destination_canonical_service",
  "destination_canonical_revision",
  "destination_service_name",
  "destination_service_namespace",
  "destination_cluster",
  "request_protocol",
] as const;

/**
 * How many leading labels (reporter through request_protocol) depend only on the
 * two workloads and the destination service, not on the response: bind them with
 * MetricFamily.prefix once per peer and service, and look up the rest per request.
 */
export const ISTIO_PEER_LABEL_COUNT = PEER_LABELS.length;

export const HTTP_LABELS: readonly string[] = [
  ...PEER_LABELS,
  "response_code",
  "grpc_response_status",
  "response_flags",
  "connection_security_policy",
];

/** TCP metrics carry no response_code or grpc_response_status. */
export const TCP_LABELS: readonly string[] = [...PEER_LABELS, "response_flags", "connection_security_policy"];

export type IstioMetricName =
  | "istio_requests_total"
  | "istio_request_duration_milliseconds"
  | "istio_request_bytes"
  | "istio_response_bytes"
  | "istio_request_messages_total"
  | "istio_response_messages_total"
  | "istio_tcp_sent_bytes_total"
  | "istio_tcp_received_bytes_total"
  | "istio_tcp_connections_opened_total"
  | "istio_tcp_connections_closed_total";

interface Definition {
  name: IstioMetricName;
  /** Telemetry API's metric selector name (`REQUEST_COUNT`, ...). */
  selector: string;
  type: "counter" | "histogram";
  help: string;
  tcp: boolean;
  buckets?: readonly number[];
}

export const ISTIO_METRICS: readonly Definition[] = [
  { name: "istio_requests_total", selector: "REQUEST_COUNT", type: "counter", help: "Requests handled by the proxy", tcp: false },
  { name: "istio_request_duration_milliseconds", selector: "REQUEST_DURATION", type: "histogram", help: "Request duration in milliseconds", tcp: false, buckets: ISTIO_DURATION_BUCKETS_MS },
  { name: "istio_request_bytes", selector: "REQUEST_SIZE", type: "histogram", help: "Request size in bytes", tcp: false, buckets: ISTIO_BYTES_BUCKETS },
  { name: "istio_response_bytes", selector: "RESPONSE_SIZE", type: "histogram", help: "Response size in bytes", tcp: false, buckets: ISTIO_BYTES_BUCKETS },
  { name: "istio_request_messages_total", selector: "GRPC_REQUEST_MESSAGES", type: "counter", help: "gRPC messages sent by the client", tcp: false },
  { name: "istio_response_messages_total", selector: "GRPC_RESPONSE_MESSAGES", type: "counter", help: "gRPC messages sent by the server", tcp: false },
  { name: "istio_tcp_sent_bytes_total", selector: "TCP_SENT_BYTES", type: "counter", help: "Bytes sent during the response of a TCP connection", tcp: true },
  { name: "istio_tcp_received_bytes_total", selector: "TCP_RECEIVED_BYTES", type: "counter", help: "Bytes received during the request of a TCP connection", tcp: true },
  { name: "istio_tcp_connections_opened_total", selector: "TCP_OPENED_CONNECTIONS", type: "counter", help: "TCP connections opened", tcp: true },
  { name: "istio_tcp_connections_closed_total", selector: "TCP_CLOSED_CONNECTIONS", type: "counter", help: "TCP connections closed", tcp: true },
];

export type IstioFamilies = Record<IstioMetricName, MetricFamily>;

/**
 * Registers the ten standard families. `overrides` is keyed by metric name or by
 * the Telemetry API selector (`REQUEST_COUNT`, ...); `ALL_METRICS` applies to all.
 */
export function registerIstioMetrics(
  registry: MetricsRegistry,
  overrides: Readonly<Record<string, FamilyOverrides>> = {},
): IstioFamilies {
  const out = {} as IstioFamilies;
  for (const def of ISTIO_METRICS) {
    let merged = mergeOverrides(overrides.ALL_METRICS, overrides[def.selector], overrides[def.name]);
    // Per-request tag values come from an HTTP request's attributes; TCP families keep their schema.
    if (def.tcp && merged.dynamicTags?.length) merged = { ...merged, dynamicTags: [] };
    out[def.name] = registry.family({
      name: def.name,
      help: def.help,
      type: def.type,
      labelNames: def.tcp ? TCP_LABELS : HTTP_LABELS,
      buckets: def.buckets,
      overrides: merged,
    });
  }
  return out;
}

function mergeOverrides(...list: (FamilyOverrides | undefined)[]): FamilyOverrides {
  const out: { disabled?: boolean; removeTags: string[]; upsertTags: Record<string, string>; dynamicTags: string[] } = { removeTags: [], upsertTags: {}, dynamicTags: [] };
  for (const o of list) {
    if (!o) continue;
    if (o.disabled !== undefined) out.disabled = o.disabled;
    for (const t of o.removeTags ?? []) {
      out.removeTags.push(t);
      delete out.upsertTags[t];
      out.dynamicTags = out.dynamicTags.filter((d) => d !== t);
    }
    for (const [k, v] of Object.entries(o.upsertTags ?? {})) {
      out.upsertTags[k] = v;
      out.removeTags = out.removeTags.filter((t) => t !== k);
      out.dynamicTags = out.dynamicTags.filter((d) => d !== k);
    }
    for (const k of o.dynamicTags ?? []) {
      delete out.upsertTags[k];
      out.removeTags = out.removeTags.filter((t) => t !== k);
      if (!out.dynamicTags.includes(k)) out.dynamicTags.push(k);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------
// Label values

/** What a sidecar knows about a workload: its own, or its peer's via metadata exchange. */
export interface WorkloadMetadata {
  /** Workload name (Deployment name on Kubernetes, `skiff.dev/workload` locally). */
  workloadName?: string;
  namespace?: string;
  /** Pod / WorkloadEntry labels. */
  labels?: Readonly<Record<string, string>>;
  /** Cluster id (`Kubernetes` on a single cluster, Istio's default). */
  clusterId?: string;
}

/** Istio's canonical service: the explicit label, then app.kubernetes.io/name, then app, then the workload name. */
export function canonicalService(md: WorkloadMetadata | undefined): string | undefined {
  const l = md?.labels ?? {};
  return nonEmpty(l["service.istio.io/canonical-name"]) ?? nonEmpty(l["app.kubernetes.io/name"]) ?? nonEmpty(l.app) ?? nonEmpty(md?.workloadName);
}

/** Istio's canonical revision: the explicit label, then app.kubernetes.io/version, then version, then `latest`. */
export function canonicalRevision(md: WorkloadMetadata | undefined): string {
  const l = md?.labels ?? {};
  return nonEmpty(l["service.istio.io/canonical-revision"]) ?? nonEmpty(l["app.kubernetes.io/version"]) ?? nonEmpty(l.version) ?? "latest";
}

function appOf(md: WorkloadMetadata | undefined): string | undefined {
  const l = md?.labels ?? {};
  return nonEmpty(l.app) ?? nonEmpty(l["app.kubernetes.io/name"]);
}

function versionOf(md: WorkloadMetadata | undefined): string | undefined {
  const l = md?.labels ?? {};
  return nonEmpty(l.version) ?? nonEmpty(l["app.kubernetes.io/version"]);
}

function nonEmpty(s: string | undefined): string | undefined {
  return s === undefined || s === "" ? undefined : s;
}

/** Namespace from a SPIFFE id `spiffe://<td>/ns/<ns>/sa/<sa>`, as Istio prefers it. */
export function namespaceFromPrincipal(principal: string | undefined): string | undefined {
  if (!principal) return undefined;
  const at = principal.indexOf("/ns/");
  if (at < 0) return undefined;
  const rest = principal.slice(at + 4);
  const end = rest.indexOf("/");
  return nonEmpty(end < 0 ? rest : rest.slice(0, end));
}

export interface RequestFacts {
  /** `source` for the client sidecar / gateway, `destination` for the server sidecar. */
  reporter: "source" | "destination";
  /** This proxy's workload. */
  local: WorkloadMetadata;
  /** The other side, from metadata exchange (or endpoint metadata); undefined when unknown. */
  peer?: WorkloadMetadata;
  /** SPIFFE ids from the TLS handshake; undefined without mTLS. */
  localPrincipal?: string;
  peerPrincipal?: string;
  /**
   * Destination service host (`reviews.default.svc.cluster.local`) and short name:
   * from the upstream cluster's service (Istio puts it in the cluster's metadata),
   * else the request's Host header, as Istio's filter falls back; `BlackHoleCluster`
   * / `PassthroughCluster` as the name for those clusters.
   */
  destinationServiceHost?: string;
  destinationServiceName?: string;
  /** `http`, `grpc` or `tcp`. */
  protocol: "http" | "grpc" | "tcp";
  /** HTTP status; 0 when no response was sent (Envoy reports 0 too). */
  responseCode?: number;
  /** gRPC status for gRPC requests; empty for non-gRPC. */
  grpcStatus?: number;
  /** Envoy's short response flags, `-` when none. */
  responseFlags?: string;
}

const U = "unknown";

/**
 * The label tuple for one request, in HTTP_LABELS order (TCP_LABELS for `tcp`),
 * following Istio's stats filter: the reporter's own side comes from its own
 * metadata, the peer side from exchanged metadata with `unknown` where absent,
 * canonical revision falls back to `latest`, the peer's namespace prefers the one
 * in its SPIFFE id, and connection_security_policy is `unknown` at the source,
 * `mutual_tls` / `none` at the destination.
 */
export function istioLabelValues(f: RequestFacts): string[] {
  const server = f.reporter === "destination";
  const src = server ? f.peer : f.local;
  const dst = server ? f.local : f.peer;
  const peerNamespace = namespaceFromPrincipal(f.peerPrincipal) ?? nonEmpty(f.peer?.namespace);
  const srcNs = server ? peerNamespace : nonEmpty(f.local.namespace);
  const dstNs = server ? nonEmpty(f.local.namespace) : peerNamespace;
  const srcPrincipal = server ? f.peerPrincipal : f.localPrincipal;
  const dstPrincipal = server ? f.localPrincipal : f.peerPrincipal;
  const dstCanonical = canonicalService(dst);
  const values: string[] = [
    f.reporter,
    nonEmpty(src?.workloadName) ?? U,
    canonicalService(src) ?? U,
    canonicalRevision(src),
    srcNs ?? U,
    nonEmpty(srcPrincipal) ?? U,
    appOf(src) ?? U,
    versionOf(src) ?? U,
    nonEmpty(src?.clusterId) ?? U,
    nonEmpty(dst?.workloadName) ?? U,
    dstNs ?? U,
    nonEmpty(dstPrincipal) ?? U,
    appOf(dst) ?? U,
    versionOf(dst) ?? U,
    // The server side falls back to its own canonical name where the host is
    // unknown; the client side has nothing better than `unknown`.
    nonEmpty(f.destinationServiceHost) ?? (server ? dstCanonical : undefined) ?? U,
    dstCanonical ?? U,
    canonicalRevision(dst),
    nonEmpty(f.destinationServiceName) ?? (server ? dstCanonical : undefined) ?? U,
    dstNs ?? U,
    nonEmpty(dst?.clusterId) ?? U,
    f.protocol,
  ];
  if (f.protocol !== "tcp") {
    values.push(String(f.responseCode ?? 0));
    values.push(f.protocol === "grpc" && f.grpcStatus !== undefined ? String(f.grpcStatus) : "");
  }
  values.push(nonEmpty(f.responseFlags) ?? "-");
  values.push(server ? (f.peerPrincipal && f.localPrincipal ? "mutual_tls" : "none") : U);
  return values;
}
