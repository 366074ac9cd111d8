// Readiness: Kubernetes' readinessProbe semantics (initial delay, period, failure and
// success thresholds), checking the app directly on its assigned port. A replica takes
// traffic only while ready. Until the first success the probe runs quickly (every
// 200 ms) so a mesh comes up fast; after that it runs every periodSeconds.
import { spawn } from "node:child_process";
import { request } from "node:http";
import { connect } from "node:net";
import type { WorkloadProbe } from "../api/index.ts";

export type Check = () => Promise<boolean>;

/**
 * `host`: where the app is reached; a netns-mode replica's own address, else loopback.
 * `localAddress`: the source to probe from (netns mode's probe address, which capture lets through).
 */
export function httpCheck(port: number, path: string, timeoutMs: number, host = "127.0.0.1", localAddress?: string): Check {
  return () =>
    new Promise((resolve) => {
      const req = request({ host, port, path, method: "GET", timeout: timeoutMs, ...(localAddress ? { localAddress } : {}) }, (res) => {
        res.resume();
        // Kubernetes: any status from 200 to 399 is a success.
        resolve((res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) < 400);
      });
      req.on("timeout", () => req.destroy());
      req.on("error", () => resolve(false));
      req.end();
    });
}

export function tcpCheck(port: number, timeoutMs: number, host = "127.0.0.1", localAddress?: string): Check {
  return () =>
    new Promise((resolve) => {
      const socket = connect({ host, port, ...(localAddress ? { localAddress } : {}) });
      const done = (ok: boolean): void => {
        socket.destroy();
        resolve(ok);
      };
      socket.setTimeout(timeoutMs, () => done(false));
      socket.once("connect", () => done(true));
      socket.once("error", () => done(false));
    });
}

export function execCheck(command: string[], cwd: string, env: NodeJS.ProcessEnv, timeoutMs: number): Check {
  return () =>
    new Promise((resolve) => {
      const child = spawn(command[0], command.slice(1), { cwd, env, stdio: "ignore", timeout: timeoutMs });
      child.once("error", () => resolve(false));
      child.once("exit", (code) => resolve(code === 0));
    });
}

/**
 * The check a probe describes, with its port (a name or a workload port number)
 * resolved to the port the app was given. No probe: ready once the app accepts
 * connections on its first port (or at once when it has none) — a local process has no
 * kubelet start-up grace, and sending traffic before the app listens only makes errors.
 */
export function checkFor(
  probe: WorkloadProbe | undefined,
  resolvePort: (ref: number | string) => number | undefined,
  firstPort: number | undefined,
  exec: { cwd: string; env: NodeJS.ProcessEnv },
  host = "127.0.0.1",
  localAddress?: string,
): Check {
  const timeoutMs = (probe?.timeoutSeconds ?? 1) * 1000;
  if (probe?.httpGet) {
    const port = resolvePort(probe.httpGet.port);
    if (port === undefined) return async () => false;
    return httpCheck(port, probe.httpGet.path, timeoutMs, host, localAddress);
  }
  if (probe?.tcpSocket) {
    const port = resolvePort(probe.tcpSocket.port);
    if (port === undefined) return async () => false;
    return tcpCheck(port, timeoutMs, host, localAddress);
  }
  if (probe?.exec) return execCheck(probe.exec.command, exec.cwd, exec.env, timeoutMs);
  if (firstPort !== undefined) return tcpCheck(firstPort, timeoutMs, host, localAddress);
  return async () => true;
}

export interface ReadinessOptions {
  initialDelayMs: number;
  periodMs: number;
  failureThreshold: number;
  successThreshold: number;
  /** Period before the first success. */
  startupPeriodMs: number;
}

export function readinessOptions(probe: WorkloadProbe | undefined): ReadinessOptions {
  return {
    initialDelayMs: (probe?.initialDelaySeconds ?? 0) * 1000,
    periodMs: (probe?.periodSeconds ?? 10) * 1000,
    failureThreshold: probe?.failureThreshold ?? 3,
    successThreshold: probe?.successThreshold ?? 1,
    startupPeriodMs: 200,
  };
}

/** Runs a check periodically and reports readiness changes. */
export class ReadinessProbe {
  #ready = false;
  #timer: NodeJS.Timeout | undefined;
  #running = false;
  #successes = 0;
  #failures = 0;
  #everReady = false;

  constructor(
    private readonly check: Check,
    private readonly opts: ReadinessOptions,
    private readonly onChange: (ready: boolean) => void,
  ) {}

  get ready(): boolean {
    return this.#ready;
  }

  /** (Re)starts probing from scratch: not ready until the check passes. */
  start(): void {
    this.stop();
    this.#running = true;
    this.#successes = 0;
    this.#failures = 0;
    this.#everReady = false;
    this.#schedule(this.opts.initialDelayMs);
  }

  /** Stops probing and marks not ready (the process is gone). */
  stop(): void {
    this.#running = false;
    clearTimeout(this.#timer);
    this.#set(false);
  }

  #schedule(delay: number): void {
    if (!this.#running) return;
    this.#timer = setTimeout(() => void this.#tick(), delay);
  }

  async #tick(): Promise<void> {
    if (!this.#running) return;
    let ok = false;
    try {
      ok = await this.check();
    } catch {
      ok = false;
    }
    if (!this.#running) return;
    if (ok) {
      this.#failures = 0;
      this.#successes++;
      if (this.#successes >= this.opts.successThreshold) {
        this.#everReady = true;
        this.#set(true);
      }
    } else {
      this.#successes = 0;
      this.#failures++;
      if (this.#failures >= this.opts.failureThreshold) this.#set(false);
    }
    this.#schedule(this.#everReady ? this.opts.periodMs : this.opts.startupPeriodMs);
  }

  #set(ready: boolean): void {
    if (ready === this.#ready) return;
    this.#ready = ready;
    this.onChange(ready);
  }
}
