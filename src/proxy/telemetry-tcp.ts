// Telemetry of tcp_proxy chains: Istio's four TCP metrics (istio.stats as a network filter)
// and tcp_proxy `access_log`, recorded when the connection closes. With the TCP metadata
// exchange (telemetry-tcp-exchange.ts) over mesh mTLS, both sides' workloads label the
// metrics: the server side when its chain has istio.metadata_exchange, the client side
// when its chain has istio.stats and the upstream negotiates ALPN istio-peer-exchange.
import type { Socket } from "node:net";
import { ISTIO_PEER_LABEL_COUNT, istioLabelValues, newAccessLogRecord, resetAccessLogRecord, type SeriesPrefix } from "../telemetry/index.ts";
import { ConfigError, obj, str, type Json } from "./json.ts";
import { compileAccessLogs, writeAccessLogs, type AccessLogSink } from "./filters/access-log.ts";
import { connectionFacts } from "./filters/index.ts";
import { parseStatsConfig, statsPluginConfigType, typedStructPayload, typedStructUrl, xdsTypedStructUrl, type StatsFilterConfig } from "./filters/stats.ts";
import type { TcpProxySessionInfo } from "./upstream/index.ts";
import { telemetryFor, type ProxyTelemetry } from "./telemetry-proxy.ts";
import { negotiatedExchange, readExchange } from "./telemetry-tcp-exchange.ts";
import type { PeerInfo } from "./telemetry-peer.ts";
import type { StatsRegistry } from "./stats.ts";

/** One proxied connection's telemetry: what tcpProxy calls back. */
export interface TcpSession {
  onClose: (info: TcpProxySessionInfo) => void;
  /**
   * Client side: called once the upstream connection is up. Writes this proxy's preamble
   * at once when the ALPN says so, and resolves once the peer's has been read off the
   * upstream (tcpProxy forwards upstream bytes only then).
   */
  upstreamExchange?: (up: Socket) => Promise<void>;
}

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
  /** This side runs the exchange (server: the chain's istio.metadata_exchange filter; client: its istio.stats). */
  private readonly exchange: boolean;

  private constructor(
    private readonly env: ProxyTelemetry,
    private readonly stats: StatsFilterConfig | undefined,
    private readonly logs: AccessLogSink[],
    private readonly cluster: string,
    exchangeFilter: boolean,
  ) {
    // Istio names inbound TCP clusters `inbound|<port>||`: that side reports as destination.
    this.reporter = cluster.startsWith("inbound") && stats?.reporter !== "SERVER_GATEWAY" ? "destination" : "source";
    this.exchange = stats !== undefined && (this.reporter === "destination" ? exchangeFilter : true);
  }

  /** From the chain's network filters and tcp_proxy config; undefined when there is nothing to record. */
  static create(networkFilters: readonly Json[], tcpConfig: Json, path: string, stats: StatsRegistry): TcpChainTelemetry | undefined {
    let statsConfig: StatsFilterConfig | undefined;
    let exchangeFilter = false;
    networkFilters.forEach((f, i) => {
      if (!isTelemetryNetworkFilter(f)) return;
      const typed = obj(f.typed_config)!;
      const { "@type": _t, ...config } = typed;
      const { typeUrl, value } = typedStructPayload(config, `${path}.filters[${i}].typed_config`);
      if (typeUrl === statsPluginConfigType) statsConfig = parseStatsConfig(value, `${path}.filters[${i}].typed_config.value`);
      else if (typeUrl === tcpMetadataExchangeType) exchangeFilter = true;
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
    return new TcpChainTelemetry(env, statsConfig, compileAccessLogs(tcpConfig.access_log, `${path}.access_log`, env.openWriter), cluster, exchangeFilter);
  }

  /** The series of this chain for one peer, resolved once per (peer, chain, verified principal) and kept on the peer. */
  private series(peer: PeerInfo, peerPrincipal: string | undefined): TcpHandles {
    const byChain = peer.handles as Map<unknown, Map<string, TcpHandles>>;
    let mine = byChain.get(this);
    if (!mine) {
      mine = new Map();
      byChain.set(this, mine);
    }
    const principalKey = peerPrincipal ?? "";
    const hit = mine.get(principalKey);
    if (hit) return hit;
    const dest = this.env.destination(this.cluster, "", false);
    const values = istioLabelValues({
      reporter: this.reporter,
      local: this.env.own,
      localPrincipal: this.env.ownPrincipal,
      peer: peer === this.env.unknownPeer ? undefined : peer.workload,
      peerPrincipal: this.reporter === "destination" ? peerPrincipal : peer.principal,
      destinationServiceHost: dest.host,
      destinationServiceName: dest.name,
      protocol: "tcp",
    }).slice(0, ISTIO_PEER_LABEL_COUNT);
    const f = this.env.familiesFor(this.stats?.overrides ?? {});
    const handles: TcpHandles = {
      opened: f.istio_tcp_connections_opened_total.prefix(values),
      closed: f.istio_tcp_connections_closed_total.prefix(values),
      sent: f.istio_tcp_sent_bytes_total.prefix(values),
      received: f.istio_tcp_received_bytes_total.prefix(values),
    };
    mine.set(principalKey, handles);
    return handles;
  }

  /** The peer a preamble described, decoded once per distinct preamble. */
  private peerOf(read: Awaited<ReturnType<typeof readExchange>>): PeerInfo {
    if (!read) return this.env.unknownPeer;
    return this.env.peers.getOr(`tcp:${read.key}`, read.id, () => read.metadata) ?? this.env.unknownPeer;
  }

  /**
   * A connection accepted on this chain (`conn` is the decrypted socket when TLS). On the
   * server side the exchange happens here, before tcpProxy reads the client's bytes.
   */
  async begin(socket: Socket, conn: Socket, localAddress: string | undefined, localPort: number | undefined): Promise<TcpSession> {
    const startMs = Date.now();
    const startNs = process.hrtime.bigint();
    const remote = `${socket.remoteAddress ?? ""}:${socket.remotePort ?? 0}`;
    const server = this.reporter === "destination";
    // A verified client certificate names the peer at the server side (as in the HTTP stats).
    const peerPrincipal = server ? connectionFacts(conn).peerPrincipal || undefined : undefined;
    const policy = server ? (peerPrincipal && this.env.ownPrincipal ? "mutual_tls" : "none") : "unknown";
    let peer = this.env.unknownPeer;
    let opened = false;
    const open = (): void => {
      if (opened) return;
      opened = true;
      if (this.stats && !this.stats.dropped.has("tcp_connections_opened_total")) this.series(peer, peerPrincipal).opened.series(["-", policy]).inc();
    };
    if (server && this.exchange && negotiatedExchange(conn)) {
      conn.write(this.env.tcpPreamble());
      peer = this.peerOf(await readExchange(conn));
    }
    const session: TcpSession = {
      onClose: (info) => {
        const flags = info.responseFlags.join(",");
        if (this.stats) {
          open();
          const h = this.series(peer, peerPrincipal);
          const rest = [flags || "-", policy];
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
      },
    };
    if (!server && this.exchange) {
      // The upstream's workload is known once its preamble is read: count the connection then.
      session.upstreamExchange = async (up) => {
        if (negotiatedExchange(up)) {
          up.write(this.env.tcpPreamble());
          peer = this.peerOf(await readExchange(up));
        }
        open();
      };
    } else open();
    return session;
  }
}
