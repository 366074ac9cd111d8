// ControlPlane: the whole pilot wired together. Config files feed a store (watched),
// the registry follows the store, every change bumps one snapshot version, and the
// ADS server translates per proxy and pushes (debounced). The monitoring server shows
// metrics, sync status, config dumps, translation problems and config file problems.
import { FileSource, MemoryStore, type ConfigStore } from "../config/index.ts";
import type { Diagnostic } from "../api/index.ts";
import { Registry } from "../registry/index.ts";
import { defaultMeshConfig, translate as defaultTranslate, type MeshConfig, type MeshSnapshot } from "./translate/index.ts";
import { AdsServer, MonitoringServer, defaultLog, type LogFn, type SnapshotProvider, type TranslateFn } from "./xds/index.ts";

export interface ControlPlaneOptions {
  /** Config files and directories (watched). */
  files: readonly string[];
  /** 15010 by default; 0 picks a free port. */
  xdsPort?: number;
  /** 15014 by default; 0 picks a free port. */
  monitoringPort?: number;
  /** Address both servers bind; loopback by default (plaintext xDS is for local use). */
  host?: string;
  mesh?: Partial<MeshConfig>;
  translate?: TranslateFn;
  debounce?: { quietMs?: number; maxDelayMs?: number };
  /** Debounce of file change events (the file source's own). */
  fileDebounceMs?: number;
  log?: LogFn;
  /** Called with the files' problems whenever they change (e.g. to print them). */
  onDiagnostics?: (diagnostics: Diagnostic[]) => void;
}

/** The snapshot provider: one version for config and registry together, snapshots built lazily and cached. */
class MeshSnapshots implements SnapshotProvider {
  #version = 1;
  #cached: MeshSnapshot | undefined;
  readonly #listeners = new Set<() => void>();

  constructor(
    private readonly store: ConfigStore,
    private readonly registry: Registry,
    private readonly mesh: MeshConfig,
  ) {}

  changed(): void {
    this.#version++;
    this.#cached = undefined;
    for (const l of [...this.#listeners]) l();
  }

  current(): MeshSnapshot {
    this.#cached ??= Object.freeze({ config: this.store.all(), registry: this.registry.snapshot(), mesh: this.mesh, version: this.#version });
    return this.#cached;
  }

  onChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}

export class ControlPlane {
  readonly store = new MemoryStore();
  readonly ads: AdsServer;
  readonly #files: FileSource;
  readonly #registry: Registry;
  readonly #snapshots: MeshSnapshots;
  readonly #monitoring: MonitoringServer;
  readonly #opts: ControlPlaneOptions;
  readonly #cleanups: (() => void)[] = [];
  #ports: { xds: number; monitoring: number } | undefined;

  constructor(opts: ControlPlaneOptions) {
    this.#opts = opts;
    const mesh: MeshConfig = { ...defaultMeshConfig, ...opts.mesh };
    this.#files = new FileSource(this.store, opts.files, { domain: mesh.domain, debounceMs: opts.fileDebounceMs });
    this.#registry = new Registry(this.store, { domain: mesh.domain });
    this.#snapshots = new MeshSnapshots(this.store, this.#registry, mesh);
    this.ads = new AdsServer({
      translate: opts.translate ?? defaultTranslate,
      snapshots: this.#snapshots,
      debounce: opts.debounce,
      log: opts.log ?? defaultLog,
    });
    this.#monitoring = new MonitoringServer({
      ads: this.ads,
      extraDebug: { "/debug/config_problems": () => this.#files.diagnostics() },
    });
  }

  /** Loads the files, then serves xDS and monitoring; returns the bound ports. */
  async start(): Promise<{ xds: number; monitoring: number }> {
    if (this.#opts.onDiagnostics) this.#cleanups.push(this.#files.onDiagnostics(this.#opts.onDiagnostics));
    await this.#files.start();
    this.#opts.onDiagnostics?.(this.#files.diagnostics());
    // Every store change may change translation (VirtualServices, ...); registry changes
    // come from the store too, but the registry decides whether endpoints really moved.
    this.#cleanups.push(this.store.watch(() => this.#snapshots.changed()));
    this.#cleanups.push(this.#registry.onChange(() => this.#snapshots.changed()));
    const host = this.#opts.host ?? "127.0.0.1";
    try {
      const xds = await this.ads.start(this.#opts.xdsPort ?? 15010, host);
      const monitoring = await this.#monitoring.start(this.#opts.monitoringPort ?? 15014, host);
      this.#ports = { xds, monitoring };
      return this.#ports;
    } catch (err) {
      // Release the file watchers and the other server, or the process would hang on.
      await this.stop();
      throw err;
    }
  }

  get ports(): { xds: number; monitoring: number } | undefined {
    return this.#ports;
  }

  diagnostics(): Diagnostic[] {
    return this.#files.diagnostics();
  }

  async stop(): Promise<void> {
    for (const c of this.#cleanups.splice(0)) c();
    await this.#files.stop();
    this.#registry.close();
    await this.#monitoring.stop();
    await this.ads.stop();
  }
}
