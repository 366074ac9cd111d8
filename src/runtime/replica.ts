// One running replica: the app process, its sidecar (when the namespace has injection),
// and their readiness. The replica tells the runtime when its readiness changes so the
// runtime can update its WorkloadEntry (healthy only while app and sidecar are ready).
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { WorkloadProbe } from "../api/index.ts";
import { proxyCommand } from "../agent/index.ts";
import { sidecarBootstrap, probePort, type ReplicaPlan } from "./plan.ts";
import { ReadinessProbe, checkFor, httpCheck, readinessOptions } from "./probe.ts";
import { SupervisedProcess, type ProcessState } from "./supervisor.ts";


export interface ReplicaStatus {
  name: string;
  workload: string;
  namespace: string;
  /** netns mode: the replica's own address. */
  address?: string;
  ready: boolean;
  /** Ready containers / containers, as `kubectl get pods` shows (`2/2`). */
  readyCount: number;
  containers: number;
  app: { state: ProcessState; pid?: number; ready: boolean; restarts: number; ports: ReplicaPlan["ports"]; lastExit?: string };
  /** statsPort / mergePort: the proxy's Prometheus ports (Istio's 15090 / 15020), on `address` or 127.0.0.1. */
  sidecar?: { state: ProcessState; pid?: number; ready: boolean; restarts: number; httpProxyPort: number; adminPort: number; statsPort?: number; mergePort?: number; nodeId: string };
}

/**
 * Where a replica runs when it is not a plain host process (netns mode): its own
 * address (probes reach the app and the sidecar's admin there), how a command line is
 * wrapped to run inside its network namespace (the sidecar as the proxy user), and the
 * sidecar's bootstrap with the directory it is written to (readable by that user).
 */
export interface ReplicaPlacement {
  host: string;
  /** The local address the app's readiness probes come from (capture lets it through). */
  probeSource?: string;
  wrap(argv: readonly string[], asProxy: boolean): { command: string; args: string[] };
  bootstrap(plan: ReplicaPlan): Record<string, unknown>;
  bootstrapDir: string;
}

export interface ReplicaOptions {
  plan: ReplicaPlan;
  probe: WorkloadProbe | undefined;
  logDir: string;
  xdsAddress: string;
  domain: string;
  onChange: (replica: Replica) => void;
  /** netns mode; absent: a host process on loopback (process mode). */
  placement?: ReplicaPlacement;
  /** Extra environment of the sidecar: the agent's CA address, root and token (mesh mTLS). */
  sidecarEnv?: Record<string, string>;
}

export class Replica {
  readonly plan: ReplicaPlan;
  readonly app: SupervisedProcess;
  readonly sidecar: SupervisedProcess | undefined;
  readonly #appProbe: ReadinessProbe;
  readonly #sidecarProbe: ReadinessProbe | undefined;
  readonly #nodeId: string | undefined;

  constructor(opts: ReplicaOptions) {
    const plan = opts.plan;
    this.plan = plan;
    const env = { ...process.env, ...plan.env };
    const changed = (): void => opts.onChange(this);
    const placement = opts.placement;
    const host = placement?.host ?? "127.0.0.1";
    const appCommand = placement ? placement.wrap([plan.command, ...plan.args], false) : { command: plan.command, args: plan.args };
    this.app = new SupervisedProcess({
      name: plan.name,
      command: appCommand.command,
      args: appCommand.args,
      cwd: plan.cwd,
      env,
      logFile: join(opts.logDir, `${plan.namespace}.${plan.name}.log`),
      onChange: (p) => {
        // A restarted app is probed from scratch; a dead one is not ready.
        if (p.state === "running") this.#appProbe.start();
        else if (p.state !== "starting") this.#appProbe.stop();
        changed();
      },
    });
    this.#appProbe = new ReadinessProbe(
      checkFor(opts.probe, (ref) => probePort(plan, ref), plan.ports[0]?.port, { cwd: plan.cwd, env }, host, placement?.probeSource),
      readinessOptions(opts.probe),
      changed,
    );
    if (plan.sidecar) {
      const bootstrap = placement ? placement.bootstrap(plan) : sidecarBootstrap(plan, opts.xdsAddress, opts.domain);
      this.#nodeId = (bootstrap.node as { id: string }).id;
      const bootstrapDir = placement?.bootstrapDir ?? join(opts.logDir, "..", "bootstrap");
      mkdirSync(bootstrapDir, { recursive: true });
      const file = join(bootstrapDir, `${plan.namespace}.${plan.name}.json`);
      writeFileSync(file, JSON.stringify(bootstrap, null, 2) + "\n", { mode: 0o644 });
      const launch = proxyCommand(file);
      this.sidecar = new SupervisedProcess({
        name: `${plan.name} proxy`,
        ...(placement ? placement.wrap([launch.command, ...launch.args], true) : launch),
        // As the proxy user, the app's directory may be out of reach (a 0700 home or temp dir).
        cwd: placement ? placement.bootstrapDir : plan.cwd,
        env: { ...process.env, ...opts.sidecarEnv },
        logFile: join(opts.logDir, `${plan.namespace}.${plan.name}.proxy.log`),
        onChange: (p) => {
          if (p.state === "running") this.#sidecarProbe?.start();
          else if (p.state !== "starting") this.#sidecarProbe?.stop();
          changed();
        },
      });
      // The proxy's admin /ready answers 200 once its xDS config is in and listeners are bound.
      this.#sidecarProbe = new ReadinessProbe(httpCheck(plan.sidecar.adminPort, "/ready", 1000, host), { ...readinessOptions(undefined), periodMs: 2000 }, changed);
    }
  }

  /** Sidecar first (as Istio's holdApplicationUntilProxyStarts), then the app. */
  start(): void {
    this.sidecar?.start();
    this.app.start();
  }

  get ready(): boolean {
    return this.#appProbe.ready && (this.#sidecarProbe?.ready ?? true);
  }

  /** Stops the sidecar (draining) first, then the app. */
  async stop(): Promise<void> {
    await this.stopSidecar();
    await this.stopApp();
  }

  async stopSidecar(): Promise<void> {
    this.#sidecarProbe?.stop();
    await this.sidecar?.stop();
  }

  async stopApp(): Promise<void> {
    this.#appProbe.stop();
    await this.app.stop();
  }

  killNow(): void {
    this.sidecar?.killNow();
    this.app.killNow();
  }

  status(): ReplicaStatus {
    const appReady = this.#appProbe.ready;
    const sidecarReady = this.#sidecarProbe?.ready ?? false;
    return {
      name: this.plan.name,
      workload: this.plan.workload,
      namespace: this.plan.namespace,
      ...(this.plan.address ? { address: this.plan.address } : {}),
      ready: this.ready,
      readyCount: (appReady ? 1 : 0) + (this.sidecar && sidecarReady ? 1 : 0),
      containers: this.sidecar ? 2 : 1,
      app: { state: this.app.state, pid: this.app.pid, ready: appReady, restarts: this.app.restarts, ports: this.plan.ports, lastExit: this.app.lastExit },
      ...(this.sidecar && this.plan.sidecar
        ? {
            sidecar: {
              state: this.sidecar.state,
              pid: this.sidecar.pid,
              ready: sidecarReady,
              restarts: this.sidecar.restarts,
              httpProxyPort: this.plan.sidecar.httpProxyPort,
              adminPort: this.plan.sidecar.adminPort,
              ...(this.plan.sidecar.statsPort !== undefined ? { statsPort: this.plan.sidecar.statsPort } : {}),
              ...(this.plan.sidecar.mergePort !== undefined ? { mergePort: this.plan.sidecar.mergePort } : {}),
              nodeId: this.#nodeId ?? "",
            },
          }
        : {}),
    };
  }
}
