// The proxy's telemetry environment, one per Proxy: Istio's metric families, this
// proxy's own workload metadata (and its metadata-exchange header value, encoded once),
// the decoded-peer cache, shared access-log writers, span exporters per collector, and
// the two Prometheus endpoints beside the admin port:
//   - the stats port (Istio's 15090): GET /stats/prometheus, Envoy-style + istio_* families;
//   - the merged port (Istio's 15020): the same plus the app's own metrics (mergeExposition).
// Ports come from node metadata STATS_PORT and METRICS_MERGE_PORT (absent = not served;
// "0" = an ephemeral port, for tests); the app's metrics URL from node metadata
// PROMETHEUS_ANNOTATIONS {"prometheus.io/port", "prometheus.io/path"} on APP_ADDRESS
// (default 127.0.0.1). See docs/proxy.md "Telemetry".
import http from "node:http";
import type { AddressInfo } from "node:net";
import {
  MetricsRegistry,
  PROMETHEUS_CONTENT_TYPE,
  canonicalService,
  mergeExposition,
  openAccessLog,
  otlpExporter,
  registerIstioMetrics,
  zipkinExporter,
  type AccessLogWriter,
  type FamilyOverrides,
  type IstioFamilies,
  type SpanExporter,
  type WorkloadMetadata,
} from "../telemetry/index.ts";
import type { Json } from "./json.ts";
import type { ClusterManagerApi } from "./upstream/index.ts";
import { PeerCache, encodePeerMetadata, exchangedMetadata, principalFromMetadata, workloadFromMetadata, type PeerInfo } from "./telemetry-peer.ts";
import type { TracingProviderConfig } from "./filters/tracing.ts";
import { encodeExchange } from "./telemetry-tcp-exchange.ts";

export interface ProxyTelemetryOptions {
  nodeId: string;
  nodeMetadata: Json;
  clusters: ClusterManagerApi;
  /** Envoy-style text of the proxy's own counters (admin's /stats/prometheus body). */
  envoyStats: () => string;
  log: (level: "info" | "warn" | "error", msg: string) => void;
  /** Span exporter batching interval; tests shorten it. */
  traceFlushIntervalMs?: number;
  /** Access-log flush interval (0, default: every event-loop turn); AccessLogWriterOptions.flushIntervalMs. */
  accessLogFlushIntervalMs?: number;
}

/** Where a request went, as Istio's destination_service labels read it; cached and used as a Map key. */
export interface DestinationService {
  host: string | undefined;
  name: string | undefined;
}

/**
 * The telemetry of the proxy that owns a stats registry. WHY keyed by the registry: every
 * HCM already receives its proxy's StatsRegistry, so telemetry reaches the HCMs without
 * widening the listener manager's dependency list.
 */
const byStats = new WeakMap<object, ProxyTelemetry>();

export function telemetryFor(stats: object): ProxyTelemetry | undefined {
  return byStats.get(stats);
}

export function attachTelemetry(stats: object, telemetry: ProxyTelemetry): void {
  byStats.set(stats, telemetry);
}

const UNKNOWN_PEER: PeerInfo = { workload: {}, principal: undefined, handles: new Map() };

export class ProxyTelemetry {
  readonly registry = new MetricsRegistry();
  readonly istio: IstioFamilies;
  readonly own: WorkloadMetadata;
  readonly ownPrincipal: string | undefined;
  readonly nodeId: string;
  /** base64 Struct of our exchanged metadata, computed once. */
  readonly ownHeader: string;
  /** Zipkin's local service name: `<canonical service>.<namespace>`, as Istio's service cluster. */
  readonly serviceName: string;
  readonly peers = new PeerCache();
  readonly unknownPeer = UNKNOWN_PEER;
  private readonly writers = new Map<string, AccessLogWriter>();
  private readonly exporters = new Map<string, SpanExporter>();
  private readonly warned = new Set<string>();
  private readonly servers: http.Server[] = [];
  private readonly destinations = new Map<string, DestinationService>();
  private readonly destinationsByHost = new Map<string, DestinationService>();
  /** Istio's families under Telemetry tag overrides: one registry per distinct override set. */
  private readonly overridden = new Map<string, { registry: MetricsRegistry; istio: IstioFamilies }>();
  statsPort: number | undefined;
  mergePort: number | undefined;

  constructor(private readonly opts: ProxyTelemetryOptions) {
    this.istio = registerIstioMetrics(this.registry);
    const md = opts.nodeMetadata as Record<string, unknown>;
    this.nodeId = opts.nodeId;
    this.own = workloadFromMetadata(md, opts.nodeId);
    this.ownPrincipal = principalFromMetadata(md, this.own.namespace);
    this.ownHeader = encodePeerMetadata(exchangedMetadata(opts.nodeMetadata));
    this.serviceName = `${canonicalService(this.own) ?? "unknown"}.${this.own.namespace ?? "default"}`;
  }

  #tcpPreamble: Buffer | undefined;

  /** The TCP metadata exchange preamble this proxy writes (same bytes every time: built once). */
  tcpPreamble(): Buffer {
    return (this.#tcpPreamble ??= encodeExchange(this.nodeId, exchangedMetadata(this.opts.nodeMetadata)));
  }

  /** The proxy's writer for an access-log path (one per path, shared by every listener). */
  openWriter = (path: string): AccessLogWriter => {
    let w = this.writers.get(path);
    if (!w) {
      w = openAccessLog(path, { flushIntervalMs: this.opts.accessLogFlushIntervalMs });
      this.writers.set(path, w);
    }
    return w;
  };

  warnOnce(msg: string): void {
    if (this.warned.has(msg)) return;
    this.warned.add(msg);
    this.opts.log("warn", msg);
  }

  /**
   * destination_service(_name) from the upstream cluster (`outbound|80||reviews.default.svc.cluster.local`)
   * or, when there is none, from the Host header (a short name is qualified with the own namespace).
   * Cached per key so the result is a stable object (a Map key for the per-peer handles).
   */
  destination(clusterName: string, authority: string, useHost: boolean): DestinationService {
    // Two levels (cluster, then Host) so a lookup never concatenates strings.
    const outbound = clusterName.startsWith("outbound|");
    // Inbound clusters (`inbound|8080||`) name no service; as Istio's stats filter, take it from
    // the cluster's istio.services metadata before the Host header, which at a sidecar behind
    // the gateway is the external host.
    const service = outbound ? undefined : this.clusterService(clusterName);
    const byCluster = outbound || service || !useHost ? this.destinations : this.destinationsByHost;
    const key = byCluster === this.destinations ? clusterName : authority;
    let d = byCluster.get(key);
    if (d && (outbound || d.host === service || !service)) return d;
    let host: string | undefined = service;
    if (outbound) host = clusterName.split("|")[3] || undefined;
    else if (service) host = service;
    else if (clusterName === "BlackHoleCluster" || clusterName === "PassthroughCluster") host = clusterName;
    else if (useHost && authority) {
      const h = authority.replace(/:\d+$/, "").toLowerCase();
      host = h.includes(".") || /^\d/.test(h) ? h : `${h}.${this.own.namespace ?? "default"}.svc.cluster.local`;
    }
    d = { host, name: host ? (host.includes(".") && !/^\d/.test(host) ? host.split(".")[0] : host) : undefined };
    // Bounded: Host headers come from clients.
    if (byCluster.size > 4096) byCluster.clear();
    byCluster.set(key, d);
    return d;
  }

  /** The first service in a cluster's `filter_metadata.istio.services`, if any. */
  private clusterService(clusterName: string): string | undefined {
    const md = this.opts.clusters.get(clusterName)?.config.metadata as { filter_metadata?: { istio?: { services?: { host?: unknown }[] } } } | undefined;
    const h = md?.filter_metadata?.istio?.services?.[0]?.host;
    return typeof h === "string" && h !== "" ? h : undefined;
  }

  /** The span exporter for a provider, resolving the collector through its cluster; undefined while it has no host. */
  exporter(p: TracingProviderConfig): SpanExporter | undefined {
    const cluster = this.opts.clusters.get(p.cluster);
    const host = cluster?.hosts()[0];
    if (!host) {
      this.warnOnce(`tracing: collector cluster ${p.cluster} has no host yet; spans are dropped until it has one`);
      return undefined;
    }
    const endpoint = `http://${host.key}${p.path}`;
    const key = `${p.kind} ${endpoint}`;
    let e = this.exporters.get(key);
    if (!e) {
      const options = { endpoint, flushIntervalMs: this.opts.traceFlushIntervalMs };
      e = p.kind === "zipkin" ? zipkinExporter(options) : otlpExporter(options);
      this.exporters.set(key, e);
    }
    return e;
  }

  /** Send every queued span now (tests, shutdown). */
  async flushTraces(): Promise<void> {
    await Promise.all([...this.exporters.values()].map((e) => e.flush()));
  }

  /**
   * The families for a stats filter's tag overrides (tags_to_remove, constant dimensions).
   * WHY separate registries: overrides change a family's label schema, which is fixed per
   * family; the expositions are merged (same-name families joined) when scraped.
   */
  familiesFor(overrides: Readonly<Record<string, FamilyOverrides>>): IstioFamilies {
    if (Object.keys(overrides).length === 0) return this.istio;
    const key = JSON.stringify(overrides);
    let o = this.overridden.get(key);
    if (!o) {
      const registry = new MetricsRegistry();
      o = { registry, istio: registerIstioMetrics(registry, overrides) };
      this.overridden.set(key, o);
    }
    return o.istio;
  }

  /** Envoy-style counters then Istio's families: what every /stats/prometheus serves. */
  exposition(): string {
    let istio = this.registry.expose();
    for (const o of this.overridden.values()) istio = mergeExposition(istio, o.registry.expose());
    return this.opts.envoyStats() + istio;
  }

  /** Start the stats and merged-metrics listeners named in node metadata. */
  async start(address: string): Promise<void> {
    const md = this.opts.nodeMetadata;
    const port = (v: unknown): number | undefined => {
      if (v === undefined || v === null || v === "") return undefined;
      const n = Number(v);
      if (!Number.isInteger(n) || n < 0 || n > 65535) {
        this.opts.log("warn", `node metadata port "${String(v)}" is not a port number; that endpoint is not served`);
        return undefined;
      }
      return n;
    };
    const statsPort = port(md.STATS_PORT);
    const mergePort = port(md.METRICS_MERGE_PORT);
    if (statsPort !== undefined) this.statsPort = await this.listen(address, statsPort, async () => this.exposition());
    if (mergePort !== undefined) this.mergePort = await this.listen(address, mergePort, async () => mergeExposition(this.exposition(), await this.appMetrics()));
  }

  private appMetricsUrl(): string | undefined {
    const md = this.opts.nodeMetadata;
    const ann = (md.PROMETHEUS_ANNOTATIONS ?? {}) as Record<string, unknown>;
    const p = ann["prometheus.io/port"];
    if (p === undefined || ann["prometheus.io/scrape"] === "false") return undefined;
    const host = typeof md.APP_ADDRESS === "string" ? md.APP_ADDRESS : "127.0.0.1";
    const path = typeof ann["prometheus.io/path"] === "string" ? ann["prometheus.io/path"] : "/metrics";
    return `http://${host}:${String(p)}${path.startsWith("/") ? path : `/${path}`}`;
  }

  /** The app's exposition; "" when it has none or does not answer (the scrape still succeeds). */
  private appMetrics(): Promise<string> {
    const url = this.appMetricsUrl();
    if (!url) return Promise.resolve("");
    return new Promise((resolve) => {
      const req = http.get(url, { timeout: 5000, agent: false }, (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => (body += c));
        res.on("end", () => resolve(res.statusCode === 200 ? body : ""));
        res.on("error", () => resolve(""));
      });
      req.on("timeout", () => req.destroy());
      req.on("error", () => resolve(""));
    });
  }

  private listen(address: string, port: number, body: () => Promise<string>): Promise<number> {
    const server = http.createServer((req, res) => {
      const path = (req.url ?? "/").split("?")[0];
      if (path !== "/stats/prometheus" && path !== "/metrics") {
        res.writeHead(404, { "content-type": "text/plain" });
        res.end("only /stats/prometheus is served here\n");
        return;
      }
      body().then(
        (text) => {
          res.writeHead(200, { "content-type": PROMETHEUS_CONTENT_TYPE });
          res.end(text);
        },
        (err: Error) => {
          res.writeHead(500, { "content-type": "text/plain" });
          res.end(`${err.message}\n`);
        },
      );
    });
    this.servers.push(server);
    return new Promise((resolve, reject) => {
      server.once("error", (err: NodeJS.ErrnoException) => reject(new Error(`cannot serve metrics on ${address}:${port}: ${err.code ?? err.message}; pick a free port in node metadata STATS_PORT / METRICS_MERGE_PORT`)));
      server.listen(port, address, () => resolve((server.address() as AddressInfo).port));
    });
  }

  async stop(): Promise<void> {
    await Promise.all(
      this.servers.splice(0).map(
        (s) =>
          new Promise<void>((resolve) => {
            s.closeAllConnections();
            s.close(() => resolve());
          }),
      ),
    );
    await Promise.all([...this.exporters.values()].map((e) => e.close()));
    this.exporters.clear();
    await Promise.all([...this.writers.values()].map((w) => w.close()));
    this.writers.clear();
  }
}
