// ControlPlane: the whole pilot wired together. Config files feed a store (watched),
// the registry follows the store, every change bumps one snapshot version, and the
// ADS server translates per proxy and pushes (debounced). The monitoring server shows
// metrics, sync status, config dumps, translation problems and config file problems.
import { FileSource, MemoryStore, type ConfigStore } from "../config/index.ts";
import type { Diagnostic } from "../api/index.ts";
import { Registry } from "../registry/index.ts";
import { defaultMeshConfig, type MeshConfig, type MeshSnapshot } from "./translate/index.ts";
import { AdsServer, MonitoringServer, defaultLog, type LogFn, type SnapshotProvider, type TranslateFn } from "./xds/index.ts";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { CACERTS_FILES, CONTROL_PLANE_DNS_NAMES, CONTROL_PLANE_IPS, MeshCa, RotatingServingCertificate, RuntimeTokenIssuer, RuntimeTokenVerifier, addCaService } from "../ca/index.ts";

export interface ControlPlaneOptions {
  /** Config files and directories (watched). */
  files: readonly string[];
  /** 15010 by default; 0 picks a free port. */
  xdsPort?: number;
  /** 15014 by default; 0 picks a free port. */
  monitoringPort?: number;
  /**
   * Istio's 15012: xDS and the CA service together over TLS (serving certificate from the
   * mesh CA). Undefined: not served (plaintext xDS only). 0 picks a free port.
   */
  xdsTlsPort?: number;
  /**
   * Where the mesh CA lives (needed with xdsTlsPort): Istio cacerts files (root-cert.pem
   * present) or a self-signed root, created on first use and kept; also the runtime's
   * token key (token-key.pem) whose tokens the CA accepts.
   */
  caDir?: string;
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
  #ports: { xds: number; monitoring: number; xdsTls?: number } | undefined;
  #ca: { ca: MeshCa; tokens: RuntimeTokenIssuer; serving: RotatingServingCertificate } | undefined;

  constructor(opts: ControlPlaneOptions) {
    this.#opts = opts;
    const mesh: MeshConfig = { ...defaultMeshConfig, ...opts.mesh };
    this.#files = new FileSource(this.store, opts.files, { domain: mesh.domain, debounceMs: opts.fileDebounceMs });
    this.#registry = new Registry(this.store, { domain: mesh.domain });
    this.#snapshots = new MeshSnapshots(this.store, this.#registry, mesh);
    this.ads = new AdsServer({
      // Undefined: the ADS server's default, which shares each sidecar scope's outbound side.
      translate: opts.translate,
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
  async start(): Promise<{ xds: number; monitoring: number; xdsTls?: number }> {
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
      if (this.#opts.xdsTlsPort !== undefined) this.#ports.xdsTls = await this.#startSecure(this.#opts.xdsTlsPort, host);
      return this.#ports;
    } catch (err) {
      // Release the file watchers and the other server, or the process would hang on.
      await this.stop();
      throw err;
    }
  }

  get ports(): { xds: number; monitoring: number; xdsTls?: number } | undefined {
    return this.#ports;
  }

  /** The mesh CA and the runtime token issuer it trusts (with xdsTlsPort), for the runtime. */
  get meshCa(): { ca: MeshCa; tokens: RuntimeTokenIssuer } | undefined {
    return this.#ca;
  }

  async #startSecure(port: number, host: string): Promise<number> {
    const dir = this.#opts.caDir;
    if (!dir) throw new Error("the control plane's TLS port (--xds-tls-port) needs a CA directory (--ca-dir)");
    const ca = await MeshCa.load({ kind: existsSync(join(dir, CACERTS_FILES.root)) ? "cacerts" : "self-signed", dir });
    const tokens = await RuntimeTokenIssuer.loadOrCreate(dir);
    const serving = await RotatingServingCertificate.create(ca, { dnsNames: [...CONTROL_PLANE_DNS_NAMES], ips: [...CONTROL_PLANE_IPS] });
    this.#ca = { ca, tokens, serving };
    const tokenVerifier = new RuntimeTokenVerifier({ publicKeysPem: [tokens.publicKeyPem] });
    return this.ads.serveSecure(port, host, serving.credentials(), (server) => addCaService(server, { ca, tokenVerifier }));
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
    this.#ca?.serving.stop();
  }
}
