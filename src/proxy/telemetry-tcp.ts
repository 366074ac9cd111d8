// Telemetry of tcp_proxy chains: Istio's four TCP metrics (istio.stats as a network filter)
// and tcp_proxy `access_log`, recorded when the connection closes. The TCP metadata
// exchange (istio.metadata_exchange over ALPN istio-peer-exchange) is accepted and not
// done: TCP peers stay `unknown` (see docs/proxy.md "Telemetry").
import type { Socket } from "node:net";
import { ISTIO_PEER_LABEL_COUNT, istioLabelValues, newAccessLogRecord, resetAccessLogRecord, type SeriesPrefix } from "../telemetry/index.ts";
import { ConfigError, obj, str, type Json } from "./json.ts";
import { compileAccessLogs, writeAccessLogs, type AccessLogSink } from "./filters/access-log.ts";
import { parseStatsConfig, statsPluginConfigType, typedStructPayload, typedStructUrl, xdsTypedStructUrl, type StatsFilterConfig } from "./filters/stats.ts";
import type { TcpProxySessionInfo } from "./upstream/index.ts";
import { telemetryFor, type ProxyTelemetry } from "./telemetry-proxy.ts";
import type { StatsRegistry } from "./stats.ts";

const tcpMetadataExchangeType = "type.googleapis.com/envoy.tcp.metadataexchange.config.MetadataExchange";

/** True for Istio's network-level telemetry filters (they sit before tcp_proxy, where only RBAC is otherwise allowed). */
export function isTelemetryNetworkFilter(entry: Json): boolean {
  const typed = obj(entry.typed_config);
  const type = str(typed?.["@type"]);
  if (type !== typedStructUrl && type !== xdsTypedStructUrl) return false;
  const inner = str(typed?.type_url);
  return inner === statsPluginConfigType || inner === tcpMetadataExchangeType;
}

interface TcpHandles {
  opened: SeriesPrefix;
  closed: SeriesPrefix;
  sent: SeriesPrefix;
  received: SeriesPrefix;
}

export class TcpChainTelemetry {
  private readonly reporter: "source" | "destination";
  private handles: TcpHandles | undefined;
  private readonly suffix = ["-", ""];

  private constructor(
    private readonly env: ProxyTelemetry,
    private readonly stats: StatsFilterConfig | undefined,
    private readonly logs: AccessLogSink[],
    private readonly cluster: string,
  ) {
    // Istio names inbound TCP clusters `inbound|<port>||`: that side reports as destination.
    this.reporter = cluster.startsWith("inbound") && stats?.reporter !== "SERVER_GATEWAY" ? "destination" : "source";
  }

  /** From the chain's network filters and tcp_proxy config; undefined when there is nothing to record. */
  static create(networkFilters: readonly Json[], tcpConfig: Json, path: string, stats: StatsRegistry): TcpChainTelemetry | undefined {
    let statsConfig: StatsFilterConfig | undefined;
    networkFilters.forEach((f, i) => {
      if (!isTelemetryNetworkFilter(f)) return;
      const typed = obj(f.typed_config)!;
      const { "@type": _t, ...config } = typed;
      const { typeUrl, value } = typedStructPayload(config, `${path}.filters[${i}].typed_config`);
      if (typeUrl === statsPluginConfigType) statsConfig = parseStatsConfig(value, `${path}.filters[${i}].typed_config.value`);
    });
    const env = telemetryFor(stats);
    const hasLogs = Array.isArray(tcpConfig.access_log) && tcpConfig.access_log.length > 0;
    if (!env) {
      if (hasLogs) compileAccessLogs(tcpConfig.access_log, `${path}.access_log`, () => ({ write() {}, close: async () => {} }) as never);
      return undefined;
    }
    if (!statsConfig && !hasLogs) return undefined;
    const cluster = str(tcpConfig.cluster);
    if (!cluster) throw new ConfigError(`${path}.cluster`, "is required");
    return new TcpChainTelemetry(env, statsConfig, compileAccessLogs(tcpConfig.access_log, `${path}.access_log`, env.openWriter), cluster);
  }

  private series(): TcpHandles {
    if (!this.handles) {
      const dest = this.env.destination(this.cluster, "", false);
      const values = istioLabelValues({
        reporter: this.reporter,
        local: this.env.own,
        localPrincipal: this.env.ownPrincipal,
        destinationServiceHost: dest.host,
        destinationServiceName: dest.name,
        protocol: "tcp",
      }).slice(0, ISTIO_PEER_LABEL_COUNT);
      const f = this.env.familiesFor(this.stats?.overrides ?? {});
      this.handles = {
        opened: f.istio_tcp_connections_opened_total.prefix(values),
        closed: f.istio_tcp_connections_closed_total.prefix(values),
        sent: f.istio_tcp_sent_bytes_total.prefix(values),
        received: f.istio_tcp_received_bytes_total.prefix(values),
      };
    }
    return this.handles;
  }

  /** Count the opened connection; returns the tcp_proxy onClose callback that records the rest. */
  open(socket: Socket, localAddress: string | undefined, localPort: number | undefined): (info: TcpProxySessionInfo) => void {
    const startMs = Date.now();
    const startNs = process.hrtime.bigint();
    const sfx = this.suffix;
    sfx[1] = this.reporter === "destination" ? "none" : "unknown";
    if (this.stats && !this.stats.dropped.has("tcp_connections_opened_total")) this.series().opened.series(["-", sfx[1]]).inc();
    const remote = `${socket.remoteAddress ?? ""}:${socket.remotePort ?? 0}`;
    return (info) => {
      const flags = info.responseFlags.join(",");
      if (this.stats) {
        const h = this.series();
        const rest = [flags || "-", sfx[1]];
        const d = this.stats.dropped;
        if (!d.has("tcp_connections_closed_total")) h.closed.series(rest).inc();
        // sent = to the downstream, received = from it (Istio's reporter-side view).
        if (!d.has("tcp_sent_bytes_total")) h.sent.series(rest).inc(info.bytesSent);
        if (!d.has("tcp_received_bytes_total")) h.received.series(rest).inc(info.bytesReceived);
      }
      if (this.logs.length > 0) {
        const r = newAccessLogRecord();
        resetAccessLogRecord(r);
        r.startTimeMs = startMs;
        r.responseFlags = flags;
        r.bytesReceived = info.bytesReceived;
        r.bytesSent = info.bytesSent;
        r.durationMs = Math.floor(Number(process.hrtime.bigint() - startNs) / 1e6);
        r.upstreamHost = info.host?.key ?? "";
        r.upstreamCluster = this.cluster;
        r.downstreamRemoteAddress = remote;
        r.downstreamDirectRemoteAddress = remote;
        r.downstreamLocalAddress = localAddress ? `${localAddress}:${localPort ?? 0}` : "";
        r.connectionTerminationDetails = info.reason;
        writeAccessLogs(this.logs, r);
      }
    };
  }
}
