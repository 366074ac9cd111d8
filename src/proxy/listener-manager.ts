// Listeners from LDS: parse and validate, warm (wait for the routes and clusters they
// use), bind, dispatch connections to filter chains, and drain replaced listeners
// without dropping requests in flight.
import net from "node:net";
import { ConfigError, arr, durationMs, num, obj, onlyFields, str, type Json } from "./json.ts";
import { parseChainMatch, selectFilterChain, type ChainMatch } from "./filter-chain-match.ts";
import { inspectSocket, normalizeAddress, originalDestination, type Inspection } from "./inspect.ts";
import { HttpConnectionManager, hcmTypeUrl } from "./hcm.ts";
import type { RouteTable } from "./route-table.ts";
import type { RequestObserver } from "./request-context.ts";
import type { Counter, StatsRegistry } from "./stats.ts";
import { tcpProxy, type ClusterManagerApi } from "./upstream/index.ts";
import { TcpChainTelemetry, isTelemetryNetworkFilter } from "./telemetry-tcp.ts";
import { connectionFacts, createNetworkRbacFilter, type NetworkRbacFilter } from "./filters/index.ts";
import { DownstreamTlsServer, parseTransportSocket, type SecretSource } from "./downstream-tls.ts";

export const tcpProxyTypeUrl = "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy";

const knownListenerFilters: Record<string, string> = {
  "type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector": "tls_inspector",
  "type.googleapis.com/envoy.extensions.filters.listener.http_inspector.v3.HttpInspector": "http_inspector",
  "type.googleapis.com/envoy.extensions.filters.listener.original_dst.v3.OriginalDst": "original_dst",
};

export interface ListenerDeps {
  clusters: ClusterManagerApi;
  routes: (name: string) => RouteTable | undefined;
  stats: StatsRegistry;
  observers: readonly RequestObserver[];
  random: () => number;
  /** How long a warming listener waits for its routes/clusters (Envoy: initial_fetch_timeout 15 s). */
  warmingTimeoutMs: number;
  /** How long a replaced listener may take to finish its requests. */
  drainTimeoutMs: number;
  log: (level: "info" | "warn" | "error", msg: string) => void;
  /** SDS secrets for downstream TLS (absent: only file/inline certificates work). */
  secrets?: SecretSource;
  /** Changes whenever a secret does, so TLS contexts rebuild (rotation). */
  secretGeneration?: () => number;
}

interface Chain {
  name: string;
  match: ChainMatch;
  hcm?: HttpConnectionManager;
  tcp?: { cluster: string; idleTimeoutMs: number | undefined; telemetry?: TcpChainTelemetry };
  /** Network RBAC filters before the terminal filter; a denied connection is closed. */
  rbac: NetworkRbacFilter[];
  /** TLS termination from the chain's transport_socket; undefined = plaintext. */
  tls?: DownstreamTlsServer;
}

/**
 * Closes a refused connection with a TCP reset, as the client of an Envoy sees it:
 * Envoy's listener filters only peek, so the request is still unread when it closes
 * and the kernel answers with RST (curl: "(56) Connection reset by peer"). Our
 * inspection has read those bytes, so a plain close would be a FIN, an empty reply.
 */
function refuse(socket: net.Socket): void {
  if (socket.destroyed) return;
  try {
    socket.resetAndDestroy();
  } catch {
    socket.destroy();
  }
}

function parseChain(json: Json, path: string, listenerName: string, deps: ListenerDeps): Chain {
  onlyFields(json, path, ["filter_chain_match", "filters", "name", "transport_socket"], ["metadata", "transport_socket_connect_timeout"]);
  const tlsConfig = parseTransportSocket(json.transport_socket, `${path}.transport_socket`);
  const filters = arr(json.filters);
  if (filters.length === 0) throw new ConfigError(`${path}.filters`, "expected a terminal network filter (http_connection_manager or tcp_proxy)");
  // Istio's network telemetry filters (istio.stats, TCP metadata exchange) are read by TcpChainTelemetry.
  const rbac = filters.slice(0, -1).flatMap((nf, i) => (isTelemetryNetworkFilter(nf) ? [] : [createNetworkRbacFilter(nf, `${path}.filters[${i}]`, deps.stats)]));
  const f = filters[filters.length - 1];
  const fp = `${path}.filters[${filters.length - 1}]`;
  onlyFields(f, fp, ["name", "typed_config"]);
  const typed = obj(f.typed_config) ?? {};
  const type = str(typed["@type"]);
  const { "@type": _t, ...config } = typed;
  const chain: Chain = { name: str(json.name) ?? "", match: parseChainMatch(obj(json.filter_chain_match), `${path}.filter_chain_match`), rbac };
  if (tlsConfig) chain.tls = new DownstreamTlsServer(tlsConfig, deps.secrets ?? (() => undefined), deps.secretGeneration ?? (() => 0));
  if (type === hcmTypeUrl) {
    chain.hcm = new HttpConnectionManager(config, `${fp}.typed_config`, { ...deps, listenerName });
  } else if (type === tcpProxyTypeUrl) {
    onlyFields(config, `${fp}.typed_config`, ["stat_prefix", "cluster", "idle_timeout", "access_log"], []);
    const cluster = str(config.cluster);
    if (!cluster) throw new ConfigError(`${fp}.typed_config.cluster`, "tcp_proxy needs a cluster (weighted_clusters is not implemented)");
    chain.tcp = { cluster, idleTimeoutMs: durationMs(config.idle_timeout), telemetry: TcpChainTelemetry.create(filters.slice(0, -1), config, `${fp}.typed_config`, deps.stats) };
  } else {
    throw new ConfigError(`${fp}.typed_config`, `network filter "${String(f.name)}" (${type ?? "no typed_config"}) is not implemented by the skiff proxy`);
  }
  return chain;
}

interface ListenerStats {
  cxTotal: Counter;
  cxActive: Counter;
  noChain: Counter;
  tlsFailed: Counter;
  tlsHandshakes: Counter;
}

/** One version of one listener. */
export class ListenerInstance {
  readonly name: string;
  readonly address: string;
  readonly port: number;
  readonly bindToPort: boolean;
  readonly useOriginalDst: boolean;
  readonly chains: Chain[];
  readonly defaultChain: Chain | undefined;
  readonly inspect: boolean;
  readonly inspectTimeoutMs: number;
  readonly stats: ListenerStats;
  readonly connections = new Set<net.Socket>();
  lastUpdated = new Date();

  constructor(
    readonly json: Json,
    readonly version: string,
    deps: ListenerDeps,
  ) {
    onlyFields(
      json,
      "",
      ["name", "address", "filter_chains", "default_filter_chain", "listener_filters", "use_original_dst", "bind_to_port", "listener_filters_timeout", "continue_on_listener_filters_timeout"],
      ["traffic_direction", "per_connection_buffer_limit_bytes", "metadata", "stat_prefix"],
    );
    this.name = str(json.name) ?? "";
    if (!this.name) throw new ConfigError("name", "listener name is required");
    const sa = obj(obj(json.address)?.socket_address);
    if (!sa) throw new ConfigError("address.socket_address", "listener needs a socket address (pipes and internal listeners are not implemented)");
    onlyFields(sa, "address.socket_address", ["address", "port_value", "protocol"], ["ipv4_compat"]);
    if (sa.protocol !== undefined && sa.protocol !== "TCP") throw new ConfigError("address.socket_address.protocol", "only TCP listeners are implemented");
    this.address = str(sa.address) ?? "0.0.0.0";
    this.port = num(sa.port_value) ?? 0;
    this.bindToPort = json.bind_to_port !== false;
    this.useOriginalDst = json.use_original_dst === true;
    arr(json.listener_filters).forEach((lf, i) => {
      const type = str(obj(lf.typed_config)?.["@type"]);
      onlyFields(lf, `listener_filters[${i}]`, ["name", "typed_config"]);
      if (!type || !knownListenerFilters[type]) throw new ConfigError(`listener_filters[${i}]`, `listener filter "${String(lf.name)}" (${type ?? "no typed_config"}) is not implemented`);
    });
    this.chains = arr(json.filter_chains).map((c, i) => parseChain(c, `filter_chains[${i}]`, this.name, deps));
    this.defaultChain = obj(json.default_filter_chain) ? parseChain(obj(json.default_filter_chain)!, "default_filter_chain", this.name, deps) : undefined;
    // Peek at the first bytes when a chain matches on them, or an HCM must tell h1 from h2.
    const all = this.defaultChain ? [...this.chains, this.defaultChain] : this.chains;
    this.inspect = all.some((c) => c.hcm !== undefined || c.match.serverNames.length > 0 || c.match.transportProtocol !== undefined || c.match.applicationProtocols.length > 0);
    this.inspectTimeoutMs = durationMs(json.listener_filters_timeout) ?? 15_000;
    const prefix = `listener.${this.address}_${this.port}.`;
    this.stats = { cxTotal: deps.stats.counter(`${prefix}downstream_cx_total`), cxActive: deps.stats.gauge(`${prefix}downstream_cx_active`), noChain: deps.stats.counter(`${prefix}no_filter_chain_match`), tlsFailed: deps.stats.counter(`${prefix}ssl.connection_error`), tlsHandshakes: deps.stats.counter(`${prefix}ssl.handshake`) };
  }

  /** RDS names the HCMs of this listener need. */
  routeConfigNames(): string[] {
    const names = new Set<string>();
    for (const c of [...this.chains, ...(this.defaultChain ? [this.defaultChain] : [])]) {
      const n = c.hcm?.routeConfigName;
      if (n) names.add(n);
    }
    return [...names];
  }

  /** SDS secrets the TLS chains need: the listener warms until they arrive, as in Envoy. */
  secretNames(): string[] {
    const names = new Set<string>();
    for (const c of [...this.chains, ...(this.defaultChain ? [this.defaultChain] : [])]) for (const n of c.tls?.config.secretNames ?? []) names.add(n);
    return [...names];
  }

  /** Clusters named by tcp_proxy chains and inline routes. */
  clusterNames(routes: (name: string) => RouteTable | undefined): string[] {
    const names = new Set<string>();
    for (const c of [...this.chains, ...(this.defaultChain ? [this.defaultChain] : [])]) {
      if (c.tcp) names.add(c.tcp.cluster);
      const src = c.hcm?.config.routes;
      const table = src?.kind === "inline" ? src.table : src ? routes(src.name) : undefined;
      for (const n of table?.referencedClusters ?? []) names.add(n);
    }
    return [...names];
  }

  /** Hand over a connection whose destination is `dest`. */
  async dispatch(socket: net.Socket, dest: { address: string; port: number }, deps: ListenerDeps): Promise<void> {
    this.stats.cxTotal.value++;
    this.stats.cxActive.value++;
    this.connections.add(socket);
    socket.once("close", () => {
      this.stats.cxActive.value--;
      this.connections.delete(socket);
    });
    socket.on("error", () => socket.destroy());
    let insp: Inspection | undefined;
    if (this.inspect) {
      insp = await inspectSocket(socket, this.inspectTimeoutMs);
      if (!insp) {
        socket.destroy();
        return;
      }
    }
    const chain =
      selectFilterChain(this.chains, {
        destinationAddress: dest.address,
        destinationPort: dest.port,
        sourceAddress: normalizeAddress(socket.remoteAddress ?? ""),
        sourcePort: socket.remotePort ?? 0,
        serverName: insp?.serverName,
        transportProtocol: insp?.transportProtocol ?? "raw_buffer",
        applicationProtocols: insp?.applicationProtocols ?? [],
      }) ?? this.defaultChain;
    if (!chain) {
      this.stats.noChain.value++;
      refuse(socket);
      return;
    }
    // TLS first: the network filters and the HCM see the decrypted socket and its peer
    // certificate (RBAC's authenticated principal).
    let conn: net.Socket = socket;
    let http2Preface = insp?.http2Preface === true;
    if (chain.tls) {
      const secure = await chain.tls.accept(socket, this.inspectTimeoutMs, (msg) => deps.log("warn", `listener ${this.name}: ${msg}`));
      if (!secure) {
        this.stats.tlsFailed.value++;
        return;
      }
      this.stats.tlsHandshakes.value++;
      conn = secure;
      if (chain.hcm) {
        // Inside TLS the ALPN may be a mesh value (istio-peer-exchange); h2 vs HTTP/1 is
        // then told by the decrypted bytes, as http_inspector would.
        if (secure.alpnProtocol === "h2") http2Preface = true;
        else if (secure.alpnProtocol === "http/1.1") http2Preface = false;
        else {
          const inner = await inspectSocket(secure, this.inspectTimeoutMs);
          if (!inner) {
            secure.destroy();
            return;
          }
          http2Preface = inner.http2Preface;
        }
      }
    }
    // Recorded per socket with the original destination and SNI, so the HCM's RBAC sees them too.
    const facts = connectionFacts(conn, dest, insp?.serverName);
    if (chain.rbac.length > 0) {
      if (!chain.rbac.every((r) => r.allows(facts))) {
        // Envoy's network RBAC closes a denied connection (STRICT's plaintext chain is one).
        refuse(socket);
        conn.destroy();
        return;
      }
    }
    if (chain.hcm) chain.hcm.handleConnection(conn, http2Preface);
    else if (chain.tcp) {
      // Telemetry first: on mesh mTLS it reads the client's metadata-exchange preamble off conn.
      const t = chain.tcp.telemetry ? await chain.tcp.telemetry.begin(socket, conn, dest?.address, dest?.port) : undefined;
      tcpProxy(conn, deps.clusters.get(chain.tcp.cluster), { downstreamAddress: socket.remoteAddress, originalDestination: dest }, { idleTimeoutMs: chain.tcp.idleTimeoutMs, onClose: t?.onClose, upstreamExchange: t?.upstreamExchange });
    }
  }

  async drain(timeoutMs: number): Promise<void> {
    const all = this.defaultChain ? [...this.chains, this.defaultChain] : this.chains;
    await Promise.all(all.map((c) => c.hcm?.drain(timeoutMs)));
  }

  close(): void {
    for (const c of [...this.chains, ...(this.defaultChain ? [this.defaultChain] : [])]) c.hcm?.close();
    for (const s of this.connections) s.destroy();
  }
}

interface Slot {
  active?: ListenerInstance;
  warming?: ListenerInstance;
  warmingTimer?: NodeJS.Timeout;
  server?: net.Server;
  boundPort?: number;
  /** Resolves once the server is bound (or failed). */
  binding?: Promise<void>;
}

export interface ListenerApplyError {
  name: string;
  message: string;
}

export class ListenerManager {
  private readonly slots = new Map<string, Slot>();
  private readonly changeListeners: Array<() => void> = [];
  private draining = new Set<Promise<void>>();

  constructor(private readonly deps: ListenerDeps) {}

  /**
   * State of the world from LDS. All-or-nothing: when any listener is invalid none is
   * applied and the errors become the NACK.
   */
  apply(resources: Json[], version: string): ListenerApplyError[] {
    const errors: ListenerApplyError[] = [];
    const parsed: ListenerInstance[] = [];
    resources.forEach((json, i) => {
      const name = str(json.name) ?? `#${i}`;
      try {
        parsed.push(new ListenerInstance(json, version, this.deps));
      } catch (err) {
        if (err instanceof ConfigError) errors.push({ name, message: `listener ${name}: ${err.path}: ${err.reason}` });
        else errors.push({ name, message: `listener ${name}: ${(err as Error).message}` });
      }
    });
    if (errors.length) return errors;
    const seen = new Set<string>();
    for (const l of parsed) {
      seen.add(l.name);
      const slot = this.slots.get(l.name) ?? {};
      this.slots.set(l.name, slot);
      const current = slot.warming ?? slot.active;
      if (current && JSON.stringify(current.json) === JSON.stringify(l.json)) continue; // unchanged
      if (slot.warmingTimer) clearTimeout(slot.warmingTimer);
      slot.warming = l;
      slot.warmingTimer = setTimeout(() => {
        this.deps.log("warn", `listener ${l.name} still warming after ${this.deps.warmingTimeoutMs} ms; activating it anyway (as Envoy does after initial_fetch_timeout)`);
        this.activate(l.name);
      }, this.deps.warmingTimeoutMs);
      slot.warmingTimer.unref();
    }
    for (const [name, slot] of this.slots) if (!seen.has(name)) this.remove(name, slot);
    this.recheckWarming();
    this.emitChange();
    return [];
  }

  /** Call when routes or clusters changed: listeners waiting on them may now serve. */
  recheckWarming(): void {
    for (const [name, slot] of this.slots) {
      const l = slot.warming;
      if (!l) continue;
      const secretsReady = l.secretNames().every((n) => this.deps.secrets?.(n) !== undefined);
      const routesReady = secretsReady && l.routeConfigNames().every((n) => this.deps.routes(n) !== undefined);
      const clustersReady = routesReady && l.clusterNames(this.deps.routes).every((n) => {
        const c = this.deps.clusters.get(n);
        return c !== undefined && !c.warming;
      });
      if (routesReady && clustersReady) this.activate(name);
    }
  }

  private activate(name: string): void {
    const slot = this.slots.get(name);
    const l = slot?.warming;
    if (!slot || !l) return;
    if (slot.warmingTimer) clearTimeout(slot.warmingTimer);
    slot.warmingTimer = undefined;
    slot.warming = undefined;
    const old = slot.active;
    l.lastUpdated = new Date();
    slot.active = l;
    const sameAddress = old && old.address === l.address && old.port === l.port && old.bindToPort === l.bindToPort;
    if (!sameAddress) {
      const oldServer = slot.server;
      slot.server = undefined;
      slot.boundPort = undefined;
      if (oldServer) oldServer.close();
      if (l.bindToPort) this.bind(name, slot, l);
    }
    if (old) this.retire(old);
    this.deps.log("info", `listener ${name} active (version ${l.version})`);
    this.emitChange();
  }

  private bind(name: string, slot: Slot, l: ListenerInstance): void {
    // noDelay: Nagle would hold small responses back for the peer's delayed ACK (~40 ms).
    const server = net.createServer({ pauseOnConnect: true, noDelay: true }, (socket) => this.onConnection(name, socket));
    slot.server = server;
    slot.binding = new Promise((resolve) => {
      server.once("error", (err) => {
        this.deps.log("error", `listener ${name}: cannot bind ${l.address}:${l.port}: ${err.message}`);
        resolve();
      });
      server.listen({ host: l.address, port: l.port }, () => {
        slot.boundPort = (server.address() as net.AddressInfo).port;
        resolve();
      });
    });
  }

  private onConnection(name: string, socket: net.Socket): void {
    const l = this.slots.get(name)?.active;
    if (!l) {
      socket.destroy();
      return;
    }
    const dest = originalDestination(socket);
    if (l.useOriginalDst) {
      const target = this.findByDestination(dest.address, dest.port, l);
      if (target) {
        void target.dispatch(socket, dest, this.deps);
        return;
      }
    }
    void l.dispatch(socket, dest, this.deps);
  }

  /** A bind_to_port:false listener for the original destination (exact IP first, then 0.0.0.0). */
  private findByDestination(address: string, port: number, self: ListenerInstance): ListenerInstance | undefined {
    let wildcard: ListenerInstance | undefined;
    for (const slot of this.slots.values()) {
      const l = slot.active;
      if (!l || l === self || l.port !== port) continue;
      if (l.address === address) return l;
      if (l.address === "0.0.0.0" || l.address === "::") wildcard = l;
    }
    return wildcard;
  }

  /** Drain a replaced or removed listener version: finish in-flight requests, then close. */
  private retire(l: ListenerInstance): void {
    const p = l.drain(this.deps.drainTimeoutMs).then(() => l.close());
    this.draining.add(p);
    void p.finally(() => this.draining.delete(p));
  }

  private remove(name: string, slot: Slot): void {
    if (slot.warmingTimer) clearTimeout(slot.warmingTimer);
    slot.server?.close();
    if (slot.active) this.retire(slot.active);
    this.slots.delete(name);
    this.deps.log("info", `listener ${name} removed`);
  }

  onChange(fn: () => void): void {
    this.changeListeners.push(fn);
  }

  private emitChange(): void {
    for (const fn of this.changeListeners) fn();
  }

  /** RDS names every listener (active or warming) needs. */
  routeConfigNames(): string[] {
    const names = new Set<string>();
    for (const slot of this.slots.values()) for (const l of [slot.active, slot.warming]) for (const n of l?.routeConfigNames() ?? []) names.add(n);
    return [...names].sort();
  }

  /** True when no listener is warming. */
  allWarm(): boolean {
    for (const slot of this.slots.values()) if (slot.warming) return false;
    return true;
  }

  /** Wait until every bound listener has finished binding. */
  async ready(): Promise<void> {
    await Promise.all([...this.slots.values()].map((s) => s.binding));
  }

  /** The port a listener is bound to (useful with port 0), or undefined. */
  boundPort(name: string): number | undefined {
    return this.slots.get(name)?.boundPort;
  }

  list(): Array<{ name: string; active?: ListenerInstance; warming?: ListenerInstance; boundPort?: number }> {
    return [...this.slots.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([name, s]) => ({ name, active: s.active, warming: s.warming, boundPort: s.boundPort }));
  }

  /** /drain_listeners and SIGTERM: stop accepting, finish in-flight requests. */
  async drainAll(): Promise<void> {
    const all: Promise<void>[] = [];
    for (const slot of this.slots.values()) {
      slot.server?.close();
      if (slot.active) all.push(slot.active.drain(this.deps.drainTimeoutMs));
    }
    await Promise.all([...all, ...this.draining]);
  }

  close(): void {
    for (const slot of this.slots.values()) {
      if (slot.warmingTimer) clearTimeout(slot.warmingTimer);
      slot.server?.close();
      slot.active?.close();
    }
    this.slots.clear();
  }
}
