// LocalMesh: `skiff up` in process mode. One control plane (in this process) on the
// mesh files, an ingress gateway proxy, and every replica of every Workload with its
// sidecar, each registered as a WorkloadEntry. Workloads follow the config store: a
// Workload added, changed or removed (file edit, `skiff apply`, `skiff delete`) starts,
// restarts or stops its replicas.
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { kindInfo, resourceKey, type AnyResource, type Diagnostic, type Resource } from "../api/index.ts";
import { MemorySource, ownerOf } from "../config/index.ts";
import { ControlPlane, translate, type MeshConfig } from "../pilot/index.ts";
import { agentEnvironment, buildBootstrap, proxyCommand } from "../agent/index.ts";
import { RUNTIME_TOKEN_TTL_SECONDS } from "../ca/index.ts";
import { GATEWAY_HTTP_PORT_KEY, withGatewayPorts } from "./gateway-ports.ts";
import { assignPorts, baseDir, injectionEnabled, planReplica, portsNeeded, prometheusMetadata, workloadEntryFor, type ReplicaPlan } from "./plan.ts";
import { PortAllocator } from "./ports.ts";
import { Replica, type ReplicaPlacement, type ReplicaStatus } from "./replica.ts";
import { MESH_ID_ENV, logDir, removeState, writeState, type MeshState, type ProcessRecord } from "./run-dir.ts";
import { SupervisedProcess } from "./supervisor.ts";
import { ReadinessProbe, httpCheck, readinessOptions } from "./probe.ts";
import { NetnsMode } from "./netns-mode.ts";
import { planNetnsReplica } from "./netns-mode-plan.ts";
import { startTraceStore, type RunningTraceStore } from "../telemetry/index.ts";
import { traceStoreResources } from "./trace-store-service.ts";


export const GATEWAY_NAME = "istio-ingressgateway";
export const GATEWAY_NAMESPACE = "istio-system";
export const GATEWAY_LABELS = { istio: "ingressgateway", app: "istio-ingressgateway" };

export interface LocalMeshOptions {
  files: string[];
  runDir: string;
  /** Host port of the gateway's port-80 server. */
  httpPort: number;
  domain?: string;
  /** Mesh config (`skiff up --mesh-config`): access logs, tracing, providers, trust domain. */
  mesh?: Partial<MeshConfig>;
  /** Progress lines for the terminal. */
  log?: (line: string) => void;
  onDiagnostics?: (diagnostics: Diagnostic[]) => void;
  /** netns mode (`--netns`): a network namespace per replica, iptables capture, VIPs and DNS. */
  netns?: boolean;
  /**
   * The embedded trace store (`skiff up` default; absent = none): served on 127.0.0.1:port
   * (0 = a free port) and registered as the mesh service zipkin.istio-system:9411.
   */
  traceStore?: { port: number; maxSpans?: number };
}

interface RunningWorkload {
  fingerprint: string;
  replicas: Replica[];
  ports: number[];
}

export interface GatewayStatus {
  name: string;
  namespace: string;
  state: string;
  pid?: number;
  ready: boolean;
  httpPort: number;
  adminPort: number;
  /** Istio's 15090 (proxy stats) and 15020 (merged metrics) of the gateway, on 127.0.0.1. */
  statsPort?: number;
  mergePort?: number;
  nodeId: string;
}

export interface MeshStatus {
  replicas: ReplicaStatus[];
  gateway: GatewayStatus;
  monitoringPort: number;
  xdsPort: number;
  /** The embedded trace store's Zipkin API (http://127.0.0.1:9411), when it runs. */
  traceStore?: { url: string };
}

export interface ApplyOutcome {
  applied: boolean;
  diagnostics: Diagnostic[];
  /** The diagnostics rendered for the terminal (FILE:LINE:COL Kind ns/name: field: message). */
  messages?: string[];
  /** `Kind/namespace/name` of what was applied or deleted. */
  objects: string[];
  /** Objects delete could not remove, with why. */
  notDeleted?: string[];
}

export class LocalMesh {
  readonly cp: ControlPlane;
  readonly #opts: LocalMeshOptions;
  readonly #applied: MemorySource;
  readonly #registered: MemorySource;
  readonly #ports = new PortAllocator();
  readonly #workloads = new Map<string, RunningWorkload>();
  readonly #logDir: string;
  #gateway: SupervisedProcess | undefined;
  #gatewayProbe: ReadinessProbe | undefined;
  #gatewayAdminPort = 0;
  #gatewayStatsPort = 0;
  #gatewayMergePort = 0;
  #gatewayNodeId = "";
  #apiPort = 0;
  #startedAt = new Date().toISOString();
  readonly #meshId = `${process.pid}-${Date.now()}`;
  #reconciling: Promise<void> = Promise.resolve();
  #stopping = false;
  #unwatch: (() => void) | undefined;
  readonly #registeredJson = new Map<string, string>();
  /** Ports each replica holds, given back when it stops. */
  readonly #replicaPorts = new Map<Replica, number[]>();
  #netns: NetnsMode | undefined;
  #traceStore: RunningTraceStore | undefined;

  constructor(opts: LocalMeshOptions) {
    this.#opts = opts;
    this.#logDir = logDir(opts.runDir);
    this.cp = new ControlPlane({
      files: opts.files,
      xdsPort: 0,
      monitoringPort: 0,
      // Istio's 15012 (xDS and the CA over TLS), so sidecars get certificates: mesh mTLS.
      xdsTlsPort: 0,
      caDir: join(opts.runDir, "ca"),
      mesh: { ...opts.mesh, ...(opts.domain ? { domain: opts.domain } : {}) },
      translate: withGatewayPorts(translate),
      onDiagnostics: opts.onDiagnostics,
      // The mesh prints its own progress; the control plane's per-push lines go to its log.
      log: (level, message) => this.#cpLog(level, message),
    });
    this.#applied = new MemorySource(this.cp.store, { name: "skiff apply", domain: opts.domain });
    this.#registered = new MemorySource(this.cp.store, { name: "skiff up", domain: opts.domain });
  }

  #cpLog(level: string, message: string): void {
    if (level === "error" || level === "warn") this.#log(`control plane: ${message}`);
  }

  #log(line: string): void {
    this.#opts.log?.(line);
  }

  get xdsAddress(): string {
    return `127.0.0.1:${this.cp.ports?.xds ?? 0}`;
  }

  /** Starts the control plane, the gateway and the workloads; `apiPort` is recorded in the state file. */
  async start(apiPort: number): Promise<void> {
    this.#apiPort = apiPort;
    // Every child inherits it: a later `skiff up` can recognise this mesh's leftovers.
    process.env[MESH_ID_ENV] = this.#meshId;
    // Logs belong to one run of the mesh (as a pod's logs to its containers' lifetime).
    rmSync(this.#logDir, { recursive: true, force: true });
    mkdirSync(this.#logDir, { recursive: true });
    this.#ports.reserve(this.#opts.httpPort);
    if (this.#opts.netns) {
      this.#netns = await NetnsMode.start({ runDir: this.#opts.runDir, store: this.cp.store, domain: this.#opts.domain, log: (line) => this.#log(line) });
      this.#log(`netns: bridge ${this.#netns.net.bridge} ${this.#netns.net.gateway}/${this.#netns.net.subnet.prefix}, DNS proxy ${this.#netns.net.gateway}:53`);
    }
    await this.cp.start();
    await this.#netns?.relayControlPlane(this.cp.ports!);
    await this.#startTraceStore();
    await this.#startGateway();
    this.#unwatch = this.cp.store.watch((changes) => {
      if (changes.some((c) => c.resource.kind === "Workload" || c.resource.kind === "Namespace")) this.#scheduleReconcile();
      // Services decide which numeric target ports the replicas' entries carry.
      if (changes.some((c) => c.resource.kind === "Service")) for (const w of this.#workloads.values()) for (const r of w.replicas) this.#register(r);
    });
    this.#scheduleReconcile();
    await this.#reconciling;
    this.#saveState();
  }

  /** Resolves when every replica and the gateway are ready, or rejects after `timeoutMs`. */
  async waitReady(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.#stopping) throw new Error("the mesh is stopping");
      const status = this.status();
      if (status.gateway.ready && status.replicas.every((r) => r.ready)) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    const waiting = this.status().replicas.filter((r) => !r.ready).map((r) => `${r.namespace}/${r.name}`);
    throw new Error(`not ready after ${timeoutMs / 1000} s: ${[...(this.status().gateway.ready ? [] : ["gateway"]), ...waiting].join(", ")}`);
  }

  /**
   * Mesh mTLS (minimal hook, see docs/security-identity.md): a service-account token from
   * the runtime's key, which the control plane's CA trusts, and where the CA is.
   */
  async #agentEnv(name: string, namespace: string, serviceAccount: string, inNetns = false): Promise<Record<string, string> | undefined> {
    const mesh = this.cp.meshCa;
    const tlsPort = this.cp.ports?.xdsTls;
    if (!mesh || tlsPort === undefined) return undefined;
    // Read for every certificate request and never re-minted: long-lived (see the constant).
    const token = await mesh.tokens.issue({ namespace, serviceAccount }, { ttlSeconds: RUNTIME_TOKEN_TTL_SECONDS });
    // A netns sidecar reaches the CA through the bridge, and runs as the proxy user.
    if (inNetns) return this.#netns?.agentEnv(name, mesh.ca.rootsPem(), token);
    return agentEnvironment({ dir: join(this.#opts.runDir, "identity"), name, caAddress: `127.0.0.1:${tlsPort}`, rootsPem: mesh.ca.rootsPem(), token });
  }

  /**
   * In this process, as the control plane: a store of spans is a few maps, and a process
   * of its own would cost another Node runtime (~40 MB) and another thing to supervise.
   * Its endpoint is what every proxy reaches: 127.0.0.1, or the bridge (a relay, as for
   * xDS) in netns mode, where the sidecars' loopback is their own.
   */
  async #startTraceStore(): Promise<void> {
    const want = this.#opts.traceStore;
    if (!want) return;
    this.#traceStore = await startTraceStore({ port: want.port, host: "127.0.0.1", ...(want.maxSpans ? { maxSpans: want.maxSpans } : {}) });
    this.#ports.reserve(this.#traceStore.port);
    const endpoint = this.#netns ? { address: this.#netns.net.gateway, port: await this.#netns.relay(this.#traceStore.port) } : { address: "127.0.0.1", port: this.#traceStore.port };
    const result = this.#registered.apply(traceStoreResources(endpoint.address, endpoint.port));
    if (!result.applied) this.#log(`runtime: cannot register the trace store: ${result.diagnostics.map((d) => d.message).join("; ")}`);
  }

  async #startGateway(): Promise<void> {
    [this.#gatewayAdminPort, this.#gatewayStatsPort, this.#gatewayMergePort] = await this.#ports.allocateMany(3);
    const bootstrap = buildBootstrap({
      kind: "router",
      name: GATEWAY_NAME,
      namespace: GATEWAY_NAMESPACE,
      address: "127.0.0.1",
      domain: this.#opts.domain,
      xdsAddress: this.xdsAddress,
      adminPort: this.#gatewayAdminPort,
      metadata: {
        LABELS: GATEWAY_LABELS,
        SERVICE_ACCOUNT: `${GATEWAY_NAME}-service-account`,
        WORKLOAD_NAME: GATEWAY_NAME,
        [GATEWAY_HTTP_PORT_KEY]: String(this.#opts.httpPort),
        ...prometheusMetadata({ sidecar: { httpProxyPort: 0, adminPort: this.#gatewayAdminPort, statsPort: this.#gatewayStatsPort, mergePort: this.#gatewayMergePort } }),
      },
    });
    this.#gatewayNodeId = (bootstrap.node as { id: string }).id;
    const dir = join(this.#opts.runDir, "bootstrap");
    mkdirSync(dir, { recursive: true });
    const file = join(dir, `${GATEWAY_NAMESPACE}.${GATEWAY_NAME}.json`);
    writeFileSync(file, JSON.stringify(bootstrap, null, 2) + "\n");
    this.#gateway = new SupervisedProcess({
      name: GATEWAY_NAME,
      ...proxyCommand(file),
      cwd: this.#opts.runDir,
      env: { ...process.env, ...(await this.#agentEnv(`${GATEWAY_NAMESPACE}.${GATEWAY_NAME}`, GATEWAY_NAMESPACE, `${GATEWAY_NAME}-service-account`)) },
      logFile: join(this.#logDir, `${GATEWAY_NAMESPACE}.${GATEWAY_NAME}.proxy.log`),
      onChange: (p) => {
        if (p.state === "running") this.#gatewayProbe?.start();
        else if (p.state !== "starting") this.#gatewayProbe?.stop();
        this.#saveState();
      },
    });
    this.#gatewayProbe = new ReadinessProbe(httpCheck(this.#gatewayAdminPort, "/ready", 1000), { ...readinessOptions(undefined), periodMs: 2000 }, () => this.#saveState());
    this.#gateway.start();
  }

  #scheduleReconcile(): void {
    this.#reconciling = this.#reconciling.then(() => this.#reconcile()).catch((err) => this.#log(`runtime: ${err instanceof Error ? err.message : String(err)}`));
  }

  /** Brings the running replicas in line with the Workloads in the store. */
  async #reconcile(): Promise<void> {
    if (this.#stopping) return;
    const namespaces = this.cp.store.list("Namespace");
    const wanted = new Map<string, Resource<"Workload">>();
    for (const w of this.cp.store.list("Workload")) wanted.set(resourceKey("Workload", w.metadata.namespace, w.metadata.name), w);
    for (const [key, running] of [...this.#workloads]) {
      const w = wanted.get(key);
      if (!w || this.#fingerprint(w, namespaces) !== running.fingerprint) {
        await this.#stopWorkload(key, running);
      }
    }
    for (const [key, w] of wanted) {
      const running = this.#workloads.get(key);
      const replicas = w.spec.replicas ?? 1;
      if (running && running.replicas.length === replicas) continue;
      if (running) {
        // Scaling: stop the highest-numbered replicas, or add new ones.
        while (running.replicas.length > replicas) await this.#stopReplica(running.replicas.pop()!);
        for (let i = running.replicas.length; i < replicas; i++) running.replicas.push(await this.#startReplica(w, i, namespaces));
      } else {
        const started: RunningWorkload = { fingerprint: this.#fingerprint(w, namespaces), replicas: [], ports: [] };
        this.#workloads.set(key, started);
        for (let i = 0; i < replicas; i++) started.replicas.push(await this.#startReplica(w, i, namespaces));
        this.#log(`workload ${w.metadata.namespace}/${w.metadata.name}: ${replicas} replica(s)${injectionEnabled(namespaces, w.metadata.namespace ?? "default") ? " with sidecars" : " without sidecars (namespace has no istio-injection: enabled)"}`);
      }
    }
    this.#saveState();
  }

  #fingerprint(w: Resource<"Workload">, namespaces: readonly Resource<"Namespace">[]): string {
    const { replicas: _replicas, ...rest } = w.spec;
    return JSON.stringify({ spec: rest, labels: w.metadata.labels, sidecar: injectionEnabled(namespaces, w.metadata.namespace ?? "default"), base: baseDir(w) });
  }

  async #startReplica(w: Resource<"Workload">, index: number, namespaces: readonly Resource<"Namespace">[]): Promise<Replica> {
    const sidecar = injectionEnabled(namespaces, w.metadata.namespace ?? "default");
    if (this.#netns) return this.#startNetnsReplica(w, index, sidecar, this.#netns);
    const ports = await this.#ports.allocateMany(portsNeeded(w, sidecar));
    const plan = planReplica(w, index, assignPorts(w, sidecar, ports), baseDir(w));
    const sidecarEnv = sidecar ? await this.#agentEnv(`${plan.namespace}.${plan.name}`, plan.namespace, plan.serviceAccount) : undefined;
    return this.#launch(w, plan, sidecarEnv, this.xdsAddress, { ports });
  }

  /** netns mode: the replica's namespace first (its address goes into the plan), then its processes inside. */
  async #startNetnsReplica(w: Resource<"Workload">, index: number, sidecar: boolean, netns: NetnsMode): Promise<Replica> {
    const plan = planNetnsReplica(w, index, sidecar, baseDir(w), "");
    const network = await netns.addReplica(plan, sidecar);
    plan.address = network.address;
    const sidecarEnv = sidecar ? await this.#agentEnv(`${plan.namespace}.${plan.name}`, plan.namespace, plan.serviceAccount, true) : undefined;
    return this.#launch(w, plan, sidecarEnv, netns.xdsAddress, { placement: netns.placement(network) });
  }

  /** Both modes' last step: the replica is registered (its WorkloadEntry follows it) and started. */
  #launch(w: Resource<"Workload">, plan: ReplicaPlan, sidecarEnv: Record<string, string> | undefined, xdsAddress: string, where: { ports?: number[]; placement?: ReplicaPlacement }): Replica {
    const replica = new Replica({
      sidecarEnv,
      plan,
      probe: w.spec.readinessProbe,
      logDir: this.#logDir,
      xdsAddress,
      domain: this.#opts.domain ?? "cluster.local",
      onChange: (r) => this.#register(r),
      ...(where.placement ? { placement: where.placement } : {}),
    });
    if (where.ports) this.#replicaPorts.set(replica, where.ports);
    this.#register(replica);
    replica.start();
    return replica;
  }

  /** Keeps the replica's WorkloadEntry current (healthy only while ready). */
  #register(replica: Replica): void {
    if (this.#stopping) return;
    const entry = workloadEntryFor(replica.plan, replica.ready, this.cp.store.list("Service", replica.plan.namespace));
    const key = resourceKey("WorkloadEntry", entry.metadata.namespace, entry.metadata.name);
    const json = JSON.stringify(entry);
    if (this.#registeredJson.get(key) !== json) {
      this.#registeredJson.set(key, json);
      const result = this.#registered.apply([entry]);
      if (!result.applied) this.#log(`runtime: cannot register ${key}: ${result.diagnostics.map((d) => d.message).join("; ")}`);
    }
    this.#saveState();
  }

  async #stopReplica(replica: Replica): Promise<void> {
    const key = resourceKey("WorkloadEntry", replica.plan.namespace, replica.plan.name);
    // Out of the registry first, so proxies stop sending traffic before it goes away.
    this.#registeredJson.delete(key);
    this.#registered.delete([{ kind: "WorkloadEntry", namespace: replica.plan.namespace, name: replica.plan.name }]);
    await replica.stop();
    await this.#netns?.removeReplica(replica.plan.name, replica.plan.namespace);
    for (const p of this.#replicaPorts.get(replica) ?? []) this.#ports.release(p);
    this.#replicaPorts.delete(replica);
  }

  async #stopWorkload(key: string, running: RunningWorkload): Promise<void> {
    this.#workloads.delete(key);
    await Promise.all(running.replicas.map((r) => this.#stopReplica(r)));
    this.#log(`workload ${key.replace(/^Workload\//, "")}: stopped`);
  }

  /** `skiff apply`: objects without a namespace land in `namespace`. All or nothing. */
  apply(resources: AnyResource[], namespace: string): ApplyOutcome {
    withNamespace(resources, namespace);
    const result = this.#applied.apply(resources);
    return { applied: result.applied, diagnostics: result.diagnostics, objects: resources.map(keyOf) };
  }

  /** `skiff delete`: removes objects `skiff apply` added; objects from the mesh files are edited there. */
  delete(resources: AnyResource[], namespace: string): ApplyOutcome {
    withNamespace(resources, namespace);
    const held = new Set(this.#applied.resources().map(keyOf));
    const objects: string[] = [];
    const notDeleted: string[] = [];
    for (const r of resources) {
      const key = keyOf(r);
      if (held.has(key)) objects.push(key);
      else {
        const owner = ownerOf(this.cp.store, key);
        const shown = key.replace("//", "/"); // cluster-scoped objects have no namespace
        notDeleted.push(owner ? `${shown}: defined in ${owner.origin}, a file given to skiff up; remove it from that file instead` : `${shown}: not found`);
      }
    }
    this.#applied.delete(resources.filter((r) => held.has(keyOf(r))).map((r) => ({ kind: r.kind, namespace: r.metadata.namespace, name: r.metadata.name })));
    return { applied: true, diagnostics: [], objects, notDeleted };
  }

  status(): MeshStatus {
    const replicas = [...this.#workloads.values()].flatMap((w) => w.replicas.map((r) => r.status()));
    replicas.sort((a, b) => (a.namespace + "/" + a.name < b.namespace + "/" + b.name ? -1 : 1));
    return {
      replicas,
      gateway: {
        name: GATEWAY_NAME,
        namespace: GATEWAY_NAMESPACE,
        state: this.#gateway?.state ?? "stopped",
        pid: this.#gateway?.pid,
        ready: this.#gatewayProbe?.ready ?? false,
        httpPort: this.#opts.httpPort,
        adminPort: this.#gatewayAdminPort,
        statsPort: this.#gatewayStatsPort,
        mergePort: this.#gatewayMergePort,
        nodeId: this.#gatewayNodeId,
      },
      monitoringPort: this.cp.ports?.monitoring ?? 0,
      xdsPort: this.cp.ports?.xds ?? 0,
      ...(this.#traceStore ? { traceStore: { url: this.#traceStore.url } } : {}),
    };
  }

  #processes(): ProcessRecord[] {
    const out: ProcessRecord[] = [];
    if (this.#gateway) {
      const proxy = { adminAddress: `127.0.0.1:${this.#gatewayAdminPort}`, nodeId: this.#gatewayNodeId };
      out.push({ name: GATEWAY_NAME, role: "gateway", workload: GATEWAY_NAME, namespace: GATEWAY_NAMESPACE, pid: this.#gateway.pid, logFile: this.#gateway.logFile, ...proxy });
    }
    for (const w of this.#workloads.values()) {
      for (const r of w.replicas) {
        out.push({ name: r.plan.name, role: "app", workload: r.plan.workload, namespace: r.plan.namespace, pid: r.app.pid, logFile: r.app.logFile });
        if (r.sidecar) {
          const ports = r.plan.sidecar?.statsPort !== undefined ? { statsPort: r.plan.sidecar.statsPort, mergePort: r.plan.sidecar.mergePort } : {};
          // The admin API listens where the runtime's own readiness probe reaches it: the replica's address in netns mode.
          const proxy = r.plan.sidecar ? { adminAddress: `${r.plan.address ?? "127.0.0.1"}:${r.plan.sidecar.adminPort}`, nodeId: r.status().sidecar?.nodeId } : {};
          out.push({ name: r.plan.name, role: "sidecar", workload: r.plan.workload, namespace: r.plan.namespace, pid: r.sidecar.pid, logFile: r.sidecar.logFile, ...ports, ...proxy });
        }
      }
    }
    return out;
  }

  #saveState(): void {
    if (this.#stopping || !this.cp.ports || !this.#apiPort) return;
    const state: MeshState = {
      pid: process.pid,
      meshId: this.#meshId,
      startedAt: this.#startedAt,
      files: this.#opts.files,
      apiPort: this.#apiPort,
      xdsPort: this.cp.ports.xds,
      monitoringPort: this.cp.ports.monitoring,
      gateway: { httpPort: this.#opts.httpPort, adminPort: this.#gatewayAdminPort, statsPort: this.#gatewayStatsPort, mergePort: this.#gatewayMergePort },
      ...(this.#traceStore ? { traceStore: { url: this.#traceStore.url } } : {}),
      processes: this.#processes(),
    };
    writeState(this.#opts.runDir, state);
  }

  /**
   * Stops everything in order: the gateway and the sidecars drain first (no new
   * traffic reaches the apps), then the apps, then the control plane. Removes the state.
   */
  async stop(): Promise<void> {
    if (this.#stopping) return;
    this.#stopping = true;
    this.#unwatch?.();
    await this.#reconciling;
    const replicas = [...this.#workloads.values()].flatMap((w) => w.replicas);
    this.#gatewayProbe?.stop();
    await Promise.all([this.#gateway?.stop(), ...replicas.map((r) => r.stopSidecar())]);
    await Promise.all(replicas.map((r) => r.stopApp()));
    this.#workloads.clear();
    await this.cp.stop();
    // After the proxies: they flush their last spans when they stop.
    await this.#traceStore?.close();
    // Namespaces, veths, rules and the bridge go once nothing runs inside them.
    await this.#netns?.stop();
    removeState(this.#opts.runDir);
  }

  /** Last resort when the process exits unexpectedly: kill every child at once. */
  killNow(): void {
    this.#gateway?.killNow();
    for (const w of this.#workloads.values()) for (const r of w.replicas) r.killNow();
    // After stop() the network is gone already (its record list is empty).
    this.#netns?.removeNow();
  }
}

function keyOf(r: AnyResource): string {
  return resourceKey(r.kind, r.metadata.namespace, r.metadata.name);
}

function withNamespace(resources: AnyResource[], namespace: string): void {
  for (const r of resources) {
    const namespaced = kindInfo(r.kind)?.namespaced ?? true;
    if (namespaced && !r.metadata.namespace) r.metadata.namespace = namespace;
  }
}
