// The proxy: wires the xDS client to the cluster manager (upstream half), the route
// tables, the listener manager and the admin endpoint. Sidecar and router (gateway)
// modes run the same code; the mode only shows in the node id sent to the control plane.
import { ClusterManager, type ClusterManagerOptions } from "./upstream/index.ts";
import { ListenerManager } from "./listener-manager.ts";
import { compileRouteConfiguration } from "./hcm.ts";
import { ConfigError, str, type Json } from "./json.ts";
import type { RouteTable } from "./route-table.ts";
import { StatsRegistry } from "./stats.ts";
import type { RequestObserver } from "./request-context.ts";
import { XdsClient, type XdsType } from "./xds-client.ts";
import { AdminServer } from "./admin.ts";
import { ProxyTelemetry, attachTelemetry } from "./telemetry-proxy.ts";
import { prometheusFrontStats } from "./stats.ts";
import { prometheusStats } from "./upstream/index.ts";
import { Logger } from "./log.ts";
import type { Bootstrap } from "./bootstrap.ts";
import { SecretStore } from "./secrets.ts";
import { SdsClient, sdsSecretNames } from "./sds-client.ts";

export interface RouteEntry {
  table: RouteTable;
  json: Json;
  version: string;
  lastUpdated: Date;
}

export interface ProxyOptions {
  bootstrap: Bootstrap;
  logger?: Logger;
  random?: () => number;
  clusterManager?: ClusterManagerOptions;
  /** Called on /quitquitquit after the proxy stopped (the CLI exits the process). */
  onQuit?: () => void;
  /**
   * How long access-log lines may wait before they are written (default 0: the next
   * event-loop turn). An interval makes it one write per interval instead of one per
   * request under load; not turned on by `skiff proxy` yet (docs/performance.md, "Proxy
   * hot path": on the shared bench machine it cut CPU but the proxy was then starved).
   */
  accessLogFlushIntervalMs?: number;
}

export type ServerState = "PRE_INITIALIZING" | "INITIALIZING" | "LIVE" | "DRAINING";

export class Proxy {
  readonly bootstrap: Bootstrap;
  readonly logger: Logger;
  readonly stats = new StatsRegistry();
  readonly clusters: ClusterManager;
  readonly routes = new Map<string, RouteEntry>();
  readonly listeners: ListenerManager;
  readonly observers: RequestObserver[] = [];
  /** SDS secrets (`default`, `ROOTCA`, ...) for upstream and downstream TLS. */
  readonly secrets = new SecretStore();
  readonly xds: XdsClient | undefined;
  /** The agent's SDS stream (bootstrap `sds-grpc`), when configured. */
  readonly sds: SdsClient | undefined;
  /** The last accepted CDS/LDS resources: where SDS secret names are read from. */
  private tlsSources: { CDS: Json[]; LDS: Json[] } = { CDS: [], LDS: [] };
  readonly admin: AdminServer;
  /** Istio metrics, access-log writers, span exporters, the stats/merge ports (telemetry-proxy.ts). */
  readonly telemetry: ProxyTelemetry;
  readonly startedAt = new Date();
  private initialized = { CDS: false, LDS: false };
  private draining = false;
  private readyWaiters: Array<() => void> = [];
  private readonly random: () => number;

  constructor(private readonly opts: ProxyOptions) {
    this.bootstrap = opts.bootstrap;
    this.logger = opts.logger ?? new Logger();
    this.random = opts.random ?? Math.random;
    const log = (level: "debug" | "info" | "warn" | "error", msg: string): void => this.logger.log(level, msg);
    this.clusters = new ClusterManager({ secrets: (name) => this.secrets.get(name), ...opts.clusterManager });
    this.telemetry = new ProxyTelemetry({ nodeId: this.bootstrap.node.id, nodeMetadata: this.bootstrap.node.metadata, clusters: this.clusters, envoyStats: () => prometheusFrontStats(this.stats.all()) + prometheusStats(this.clusters.stats()), log, accessLogFlushIntervalMs: opts.accessLogFlushIntervalMs });
    attachTelemetry(this.stats, this.telemetry);
    this.listeners = new ListenerManager({
      clusters: this.clusters,
      routes: (name) => this.routes.get(name)?.table,
      stats: this.stats,
      observers: this.observers,
      random: this.random,
      warmingTimeoutMs: this.bootstrap.initialFetchTimeoutMs,
      drainTimeoutMs: this.bootstrap.drainTimeoutMs,
      log,
      secrets: (name) => this.secrets.get(name),
      secretGeneration: () => this.secrets.generation,
    });
    // A listener waiting for its certificate may serve once it arrives.
    this.secrets.onChange(() => {
      this.listeners.recheckWarming();
      this.checkReady();
    });
    this.listeners.onChange(() => this.checkReady());
    if (this.bootstrap.xdsAddress) {
      this.xds = new XdsClient({
        address: this.bootstrap.xdsAddress,
        ...(this.bootstrap.xdsTls ? { tls: this.bootstrap.xdsTls } : {}),
        // SKIFF_TLS "false" only when no agent serves this proxy certificates (no SDS in the
        // bootstrap): mesh mTLS could not work, so the control plane sends it none (see
        // docs/translation.md "Security"). With SDS the proxy gets what Envoy gets.
        node: { id: this.bootstrap.node.id, cluster: this.bootstrap.node.cluster, metadata: this.bootstrap.sdsAddress ? this.bootstrap.node.metadata : { ...this.bootstrap.node.metadata, SKIFF_TLS: "false" }, user_agent_name: "skiff-proxy" },
        handlers: {
          apply: (type, resources, version) => this.apply(type, resources, version),
          resourceNames: (type) => (type === "EDS" ? this.clusters.edsResourceNames().sort() : this.listeners.routeConfigNames()),
        },
        log,
      });
    }
    if (this.bootstrap.sdsAddress) {
      this.sds = new SdsClient({ address: this.bootstrap.sdsAddress, node: { id: this.bootstrap.node.id, cluster: this.bootstrap.node.cluster }, store: this.secrets, log });
    }
    this.admin = new AdminServer(this);
  }

  /** Ask SDS for every secret a listener's or cluster's TLS context names. */
  private updateSecretSubscriptions(): void {
    if (!this.sds) return;
    const names = sdsSecretNames([this.bootstrap.staticListeners, this.bootstrap.staticClusters, this.tlsSources.CDS, this.tlsSources.LDS]);
    this.sds.subscribe([...names]);
  }

  /** Apply one xDS response; returns NACK messages (empty = accepted). */
  apply(type: XdsType, resources: Json[], version: string): string[] {
    switch (type) {
      case "CDS": {
        const r = this.clusters.applyClusters([...this.bootstrap.staticClusters, ...resources]);
        if (!r.ok) return r.errors.map((e) => e.message);
        this.initialized.CDS = true;
        this.tlsSources.CDS = resources;
        this.updateSecretSubscriptions();
        break;
      }
      case "EDS": {
        const r = this.clusters.applyEndpoints(resources);
        if (!r.ok) return r.errors.map((e) => e.message);
        break;
      }
      case "LDS": {
        const errors = this.listeners.apply([...this.bootstrap.staticListeners, ...resources], version);
        if (errors.length) return errors.map((e) => e.message);
        this.initialized.LDS = true;
        this.tlsSources.LDS = resources;
        this.updateSecretSubscriptions();
        // Route configurations no listener uses any more go, as Envoy drops unused RDS subscriptions.
        const used = new Set(this.listeners.routeConfigNames());
        for (const name of this.routes.keys()) if (!used.has(name)) this.routes.delete(name);
        break;
      }
      case "RDS": {
        const compiled: RouteEntry[] = [];
        const errors: string[] = [];
        for (const json of resources) {
          const name = str(json.name) ?? "";
          try {
            compiled.push({ table: compileRouteConfiguration(json), json, version, lastUpdated: new Date() });
          } catch (err) {
            if (err instanceof ConfigError) errors.push(`route configuration ${name}: ${err.path}: ${err.reason}`);
            else errors.push(`route configuration ${name}: ${(err as Error).message}`);
          }
        }
        if (errors.length) return errors;
        for (const c of compiled) {
          const old = this.routes.get(c.table.name);
          if (old && JSON.stringify(old.json) === JSON.stringify(c.json)) continue;
          this.routes.set(c.table.name, c);
        }
        break;
      }
    }
    this.listeners.recheckWarming();
    this.checkReady();
    return [];
  }

  state(): ServerState {
    if (this.draining) return "DRAINING";
    if (!this.isInitialized()) return this.initialized.CDS || this.initialized.LDS ? "INITIALIZING" : "PRE_INITIALIZING";
    return "LIVE";
  }

  private isInitialized(): boolean {
    const xdsDone = !this.xds || (this.initialized.CDS && this.initialized.LDS);
    return xdsDone && this.listeners.allWarm();
  }

  private checkReady(): void {
    if (this.isInitialized()) for (const w of this.readyWaiters.splice(0)) w();
  }

  /** Resolves once LIVE and every listener is bound. */
  async waitReady(timeoutMs = 10_000): Promise<void> {
    if (!this.isInitialized()) {
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`proxy not ready after ${timeoutMs} ms (state ${this.state()})`)), timeoutMs);
        this.readyWaiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    await this.listeners.ready();
  }

  async start(): Promise<void> {
    await this.admin.listen(this.bootstrap.adminAddress, this.bootstrap.adminPort);
    await this.telemetry.start(this.bootstrap.adminAddress);
    if (this.bootstrap.staticClusters.length) {
      const r = this.clusters.applyClusters(this.bootstrap.staticClusters);
      if (!r.ok) throw new Error(`static_resources.clusters: ${r.errors.map((e) => e.message).join("; ")}`);
    }
    if (this.bootstrap.staticListeners.length) {
      const errors = this.listeners.apply(this.bootstrap.staticListeners, "");
      if (errors.length) throw new Error(`static_resources.listeners: ${errors.map((e) => e.message).join("; ")}`);
    }
    this.sds?.start();
    this.updateSecretSubscriptions();
    this.xds?.start();
    this.logger.log("info", `proxy ${this.bootstrap.node.id} (${this.bootstrap.mode}) started; admin on ${this.bootstrap.adminAddress}:${this.admin.port}${this.bootstrap.xdsAddress ? `, xDS ${this.bootstrap.xdsAddress}` : ""}`);
  }

  /** Stop accepting, let in-flight requests finish (SIGTERM, /drain_listeners). */
  async drain(): Promise<void> {
    this.draining = true;
    await this.listeners.drainAll();
  }

  async stop(): Promise<void> {
    this.xds?.stop();
    this.sds?.stop();
    this.listeners.close();
    await this.clusters.close();
    await this.admin.close();
    await this.telemetry.stop();
  }

  async quit(): Promise<void> {
    await this.drain();
    await this.stop();
    this.opts.onQuit?.();
  }
}
