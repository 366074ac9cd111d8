// The ADS server: accepts proxies' streams, keeps a ProxyConnection per stream, and
// pushes when the mesh changes. By default a sidecar's translation comes in two parts:
// its scope's shared outbound side, translated and encoded once per scope and snapshot
// (scopes.ts), and its own part, per proxy; a custom `translate` (tests, the local
// runtime's gateway ports) is called whole, per proxy. Pushes go proxy by proxy,
// yielding to the event loop, through one bounded send queue (send-queue.ts), so the
// first proxies get their config while later ones are still being built. A proxy whose
// translation throws keeps its last good resources and the failure is reported; the
// other proxies are unaffected.
import * as grpc from "@grpc/grpc-js";
import type { MeshSnapshot, ProxyNode, TranslationProblem, TranslationResult } from "../translate/types.ts";
import { ProxyConnection, type DiscoveryRequestJson, type LogFn, type OutgoingResponse } from "./connection.ts";
import { Debouncer, type DebounceOptions } from "./debounce.ts";
import { adsServiceDefinition } from "./grpc-service.ts";
import { XdsMetrics } from "./metrics.ts";
import { NodeIdentityError, parseProxyNode, type XdsNode } from "./node.ts";
import { EncodeCache, encodeResources } from "./resources.ts";
import { ScopeCache } from "./scopes.ts";
import { NameSets, type TypeResources } from "./selection.ts";
import { SendQueue, type ResponseSink } from "./send-queue.ts";
import type { ProxySyncStatus } from "./status.ts";
import { translate as defaultTranslate, translateOwn, tidyProblems } from "../translate/index.ts";

export type TranslateFn = (snapshot: MeshSnapshot, proxy: ProxyNode) => TranslationResult;

/** The current mesh snapshot and a way to hear that it changed. */
export interface SnapshotProvider {
  current(): MeshSnapshot;
  onChange(listener: () => void): () => void;
}

export interface AdsServerOptions {
  /**
   * A translation to call whole, per proxy, instead of the default (which shares each
   * sidecar scope's outbound side between its proxies).
   */
  translate?: TranslateFn;
  snapshots: SnapshotProvider;
  debounce?: Partial<DebounceOptions>;
  log?: LogFn;
  metrics?: XdsMetrics;
}

export const defaultLog: LogFn = (level, message) => {
  process.stderr.write(`${new Date().toISOString()} ${level} xds ${message}\n`);
};

export class AdsServer {
  readonly metrics: XdsMetrics;
  readonly #opts: AdsServerOptions;
  readonly #log: LogFn;
  readonly #connections = new Map<string, ProxyConnection>();
  readonly #debouncer: Debouncer;
  readonly #encodings = new EncodeCache();
  readonly #scopes: ScopeCache;
  readonly #names = new NameSets();
  readonly #sendQueue = new SendQueue();
  /** Bumped by every push: an older push still under way stops (the newer covers every proxy). */
  #pushGeneration = 0;
  readonly #servers: grpc.Server[] = [];
  #unsubscribe: (() => void) | undefined;
  #nextId = 0;

  constructor(opts: AdsServerOptions) {
    this.#opts = opts;
    this.#log = opts.log ?? defaultLog;
    this.metrics = opts.metrics ?? new XdsMetrics();
    this.#scopes = new ScopeCache(this.#encodings, () => this.metrics.translations.inc({ part: "scope" }));
    this.#debouncer = new Debouncer({ quietMs: opts.debounce?.quietMs ?? 100, maxDelayMs: opts.debounce?.maxDelayMs ?? 1000 }, (first) => {
      void this.pushAll(first).catch((err: unknown) => this.#log("error", `push failed: ${err instanceof Error ? err.message : String(err)}`));
    });
  }

  /** Listens for ADS streams; returns the bound port (pass 0 for an ephemeral one). */
  async start(port = 15010, host = "127.0.0.1"): Promise<number> {
    const bound = await this.#serve(port, host, grpc.ServerCredentials.createInsecure(), undefined);
    this.#unsubscribe = this.#opts.snapshots.onChange(() => this.#debouncer.trigger());
    return bound;
  }

  /**
   * A second port with the same ADS service over other credentials, plus extra services
   * (Istio's 15012: xDS and the CA over TLS). Call after start(); stop() closes it too.
   */
  async serveSecure(port: number, host: string, credentials: grpc.ServerCredentials, addServices: (server: grpc.Server) => void): Promise<number> {
    return this.#serve(port, host, credentials, addServices);
  }

  async #serve(port: number, host: string, credentials: grpc.ServerCredentials, addServices: ((server: grpc.Server) => void) | undefined): Promise<number> {
    const server = new grpc.Server();
    server.addService(adsServiceDefinition(), {
      StreamAggregatedResources: (call: grpc.ServerDuplexStream<DiscoveryRequestJson, OutgoingResponse>) => this.#onStream(call),
      DeltaAggregatedResources: (call: grpc.ServerDuplexStream<unknown, unknown>) => {
        call.emit("error", { code: grpc.status.UNIMPLEMENTED, details: "Skiff serves state-of-the-world ADS only (StreamAggregatedResources); delta xDS is not implemented yet" });
      },
    });
    addServices?.(server);
    const bound = await new Promise<number>((resolve, reject) => {
      const address = host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
      server.bindAsync(address, credentials, (err, p) =>
        err ? reject(new Error(`xDS server cannot listen on ${address} (${err.message}); is the port in use? Pick another with ${addServices ? "--xds-tls-port" : "--xds-port"}`)) : resolve(p),
      );
    });
    this.#servers.push(server);
    return bound;
  }

  async stop(): Promise<void> {
    this.#debouncer.stop();
    this.#pushGeneration++; // a push under way stops at its next proxy
    this.#unsubscribe?.();
    const servers = this.#servers.splice(0);
    if (servers.length === 0) return;
    // Streams are long-lived: a graceful shutdown would wait for every proxy to hang up.
    for (const server of servers) server.forceShutdown();
    this.#connections.clear();
    this.metrics.connected = 0;
  }

  /**
   * Rebuilds every proxy's resources from the current snapshot and sends what changed,
   * proxy by proxy: the event loop gets a turn every few milliseconds (so responses go
   * out while later proxies are built) and building waits while the send queue is
   * backed up. Resolves when every proxy's push is queued, or when a newer push took over.
   */
  async pushAll(changeAt = Date.now()): Promise<void> {
    const generation = ++this.#pushGeneration;
    // A copy: connections come and go while this push yields. A scope's shared part is built
    // by its first proxy here and reused by the rest (ScopeCache), whatever their order.
    const conns = [...this.#connections.values()];
    let slice = Date.now();
    for (const conn of conns) {
      if (generation !== this.#pushGeneration) return;
      if (conn.closed) continue;
      try {
        this.#build(conn);
        conn.push(changeAt);
      } catch (err) {
        // One broken stream must not hold up the others' pushes.
        this.#log("error", `${conn.proxy.id}: push failed: ${err instanceof Error ? err.message : String(err)}`);
      }
      if (Date.now() - slice >= 5 || this.#sendQueue.backlog >= this.#sendQueue.highWater) {
        await this.#sendQueue.drained();
        await new Promise<void>((resolve) => setImmediate(resolve));
        slice = Date.now();
      }
    }
  }

  status(): ProxySyncStatus[] {
    return [...this.#connections.values()].map((c) => c.status()).sort((a, b) => a.proxy.localeCompare(b.proxy) || a.connectionId.localeCompare(b.connectionId));
  }

  /** Finds a connection by full node id, or by `name.namespace` as istioctl accepts. */
  connection(proxyId: string): ProxyConnection | undefined {
    const all = [...this.#connections.values()];
    return all.find((c) => c.proxy.id === proxyId) ?? all.find((c) => c.proxy.podName === proxyId);
  }

  translationProblems(): { proxy: string; problems: TranslationProblem[] }[] {
    return [...this.#connections.values()].filter((c) => c.problems.length).map((c) => ({ proxy: c.proxy.id, problems: c.problems }));
  }

  #onStream(call: grpc.ServerDuplexStream<DiscoveryRequestJson, OutgoingResponse>): void {
    let conn: ProxyConnection | undefined;
    const id = `conn-${++this.#nextId}`;
    // Writes in flight on this stream: released when it ends, so the send queue never waits on a dead stream.
    const pending = new Set<() => void>();
    const sink: ResponseSink & { closed: boolean } = {
      closed: false,
      write: (response, done) => {
        pending.add(done);
        call.write(response, () => {
          pending.delete(done);
          done();
        });
      },
    };
    const close = (): void => {
      if (!sink.closed) {
        sink.closed = true;
        if (conn) conn.closed = true;
        for (const done of [...pending]) done();
        pending.clear();
      }
      if (conn && this.#connections.delete(id)) {
        this.metrics.connected = this.#connections.size;
        this.#log("info", `${conn.proxy.id}: disconnected (${id})`);
      }
    };
    call.on("data", (req: DiscoveryRequestJson) => {
      try {
        if (!conn) {
          const node = req.node as XdsNode | undefined;
          const proxy = parseProxyNode(node, { proxyless: req.type_url?.endsWith(".Listener") && (req.resource_names?.length ?? 0) > 0 });
          conn = new ProxyConnection(id, proxy, {
            send: (response) => this.#sendQueue.send(sink, response),
            build: (c) => this.#build(c),
            names: this.#names,
            log: this.#log,
            metrics: this.metrics,
          });
          this.#connections.set(id, conn);
          this.metrics.connected = this.#connections.size;
          this.#log("info", `${proxy.id}: connected as ${proxy.type} (${id})`);
        }
        conn.handleRequest(req);
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        if (err instanceof NodeIdentityError) {
          this.#log("warn", `rejected ADS stream: ${message}`);
          call.emit("error", { code: grpc.status.INVALID_ARGUMENT, details: message });
        } else {
          this.#log("error", `${conn?.proxy.id ?? id}: ${message}`);
          call.emit("error", { code: grpc.status.INTERNAL, details: message });
        }
        close();
      }
    });
    call.on("end", () => {
      close();
      call.end();
    });
    call.on("error", close);
    call.on("cancelled", close);
    call.on("close", close);
  }

  /** Translates for one proxy when the snapshot (or its requested listeners) changed. */
  #build(conn: ProxyConnection): void {
    const snapshot = this.#opts.snapshots.current();
    const key = `${snapshot.version}|${(conn.proxy.requestedListeners ?? []).join(",")}`;
    if (conn.builtFrom === key) return;
    conn.builtFrom = key;
    let problems: TranslationProblem[];
    try {
      const built = this.#translate(snapshot, conn.proxy);
      conn.resources = built.resources;
      problems = built.problems;
    } catch (err) {
      // Keep the proxy's last good resources: a broken translation must not empty it.
      const message = err instanceof Error ? err.message : String(err);
      problems = [{ resource: `proxy ${conn.proxy.id}`, message: `translation failed, last good config kept: ${message}` }];
    }
    const before = JSON.stringify(conn.problems);
    conn.problems = problems;
    if (problems.length && JSON.stringify(problems) !== before) {
      this.metrics.translationErrors.inc({}, problems.length);
      for (const p of problems) this.#log("warn", `${conn.proxy.id}: ${p.resource}: ${p.message}`);
    }
  }

  /** A proxy's encoded resources: shared scope sets by reference plus its own, or all its own (custom translation, gateways, proxyless). */
  #translate(snapshot: MeshSnapshot, proxy: ProxyNode): { resources: Map<string, TypeResources>; problems: TranslationProblem[] } {
    const scope = this.#opts.translate ? undefined : this.#scopes.scopeOf(snapshot, proxy);
    if (!scope) {
      this.metrics.translations.inc({ part: "whole" });
      const result = (this.#opts.translate ?? defaultTranslate)(snapshot, proxy);
      const encoded = encodeResources(result.resources, this.#encodings);
      const resources = new Map<string, TypeResources>([...encoded.sets].map(([type, own]): [string, TypeResources] => [type, { own }]));
      return { resources, problems: [...result.problems, ...encoded.problems] };
    }
    this.metrics.translations.inc({ part: "own" });
    const own = translateOwn(this.#scopes.context(snapshot), proxy, scope.result);
    const encoded = encodeResources(own.resources, this.#encodings);
    const resources = new Map<string, TypeResources>();
    for (const [type, set] of encoded.sets) resources.set(type, { shared: scope.sets.get(type), own: set });
    // Problems once each, in a stable order (the same rule translate() applies).
    const problems = tidyProblems([...scope.problems, ...own.problems, ...encoded.problems]);
    return { resources, problems };
  }
}
