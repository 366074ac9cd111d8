// One supervised process: started with its output appended to a log file, restarted
// with backoff when it exits on its own, stopped with SIGTERM (then SIGKILL after a
// grace period). Each process gets its own process group, so that Ctrl-C in the
// terminal reaches only `skiff up`, which then stops everything in order, and so that
// stopping a process also stops whatever it started itself.
import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, mkdirSync, openSync, writeSync } from "node:fs";
import { dirname } from "node:path";
import { Backoff } from "./backoff.ts";

export type ProcessState = "starting" | "running" | "backoff" | "stopped";

export interface SupervisedOptions {
  name: string;
  command: string;
  args: string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
  logFile: string;
  backoff?: Backoff;
  /** Grace period between SIGTERM and SIGKILL. */
  stopTimeoutMs?: number;
  /** Called on every state change (start, exit, restart). */
  onChange?: (p: SupervisedProcess) => void;
  now?: () => number;
}

export class SupervisedProcess {
  readonly name: string;
  readonly logFile: string;
  #state: ProcessState = "stopped";
  #child: ChildProcess | undefined;
  #restartTimer: NodeJS.Timeout | undefined;
  #exited: Promise<void> = Promise.resolve();
  #wanted = false;
  #restarts = 0;
  #lastExit: string | undefined;
  readonly #backoff: Backoff;
  readonly #opts: SupervisedOptions;
  readonly #now: () => number;

  constructor(opts: SupervisedOptions) {
    this.#opts = opts;
    this.name = opts.name;
    this.logFile = opts.logFile;
    this.#backoff = opts.backoff ?? new Backoff();
    this.#now = opts.now ?? Date.now;
  }

  get state(): ProcessState {
    return this.#state;
  }

  get pid(): number | undefined {
    return this.#state === "running" || this.#state === "starting" ? this.#child?.pid : undefined;
  }

  get restarts(): number {
    return this.#restarts;
  }

  /** How the last run ended (`exit code 1`, `signal SIGKILL`), if it did. */
  get lastExit(): string | undefined {
    return this.#lastExit;
  }

  start(): void {
    this.#wanted = true;
    this.#spawn();
  }

  #note(line: string): void {
    // The supervisor's own notes go to the same log, so `skiff logs` tells the whole story.
    try {
      const fd = openSync(this.logFile, "a");
      writeSync(fd, `[skiff] ${new Date().toISOString()} ${line}\n`);
      closeSync(fd);
    } catch {
      // A log we cannot write must not stop the mesh.
    }
  }

  #spawn(): void {
    mkdirSync(dirname(this.logFile), { recursive: true });
    const fd = openSync(this.logFile, "a");
    this.#state = "starting";
    let child: ChildProcess;
    try {
      child = spawn(this.#opts.command, this.#opts.args, {
        cwd: this.#opts.cwd,
        env: this.#opts.env,
        stdio: ["ignore", fd, fd],
        detached: true,
      });
    } finally {
      closeSync(fd);
    }
    this.#child = child;
    this.#backoff.started(this.#now());
    let resolveExit!: () => void;
    this.#exited = new Promise((r) => (resolveExit = r));
    child.once("spawn", () => {
      if (this.#child !== child) return;
      this.#state = "running";
      this.#opts.onChange?.(this);
    });
    child.once("error", (err) => {
      // spawn failures (ENOENT: no such command) arrive here, and no "exit" follows.
      this.#note(`cannot start ${this.#opts.command}: ${err.message}`);
      this.#afterExit(child, `error ${(err as NodeJS.ErrnoException).code ?? err.message}`);
      resolveExit();
    });
    child.once("exit", (code, signal) => {
      this.#afterExit(child, signal ? `signal ${signal}` : `exit code ${code}`);
      resolveExit();
    });
  }

  #afterExit(child: ChildProcess, how: string): void {
    if (this.#child !== child) return;
    this.#child = undefined;
    this.#lastExit = how;
    if (!this.#wanted) {
      this.#state = "stopped";
      this.#opts.onChange?.(this);
      return;
    }
    const delay = this.#backoff.exited(this.#now());
    this.#note(`${this.name} ended (${how}); restarting in ${(delay / 1000).toFixed(1)} s`);
    this.#state = "backoff";
    this.#opts.onChange?.(this);
    this.#restartTimer = setTimeout(() => {
      if (!this.#wanted) return;
      this.#restarts++;
      this.#spawn();
      this.#opts.onChange?.(this);
    }, delay);
  }

  /** SIGTERM to the process group, SIGKILL after the grace period; resolves when it is gone. */
  async stop(): Promise<void> {
    this.#wanted = false;
    clearTimeout(this.#restartTimer);
    const child = this.#child;
    if (!child || child.pid === undefined) {
      this.#state = "stopped";
      return;
    }
    const exited = this.#exited;
    signalGroup(child.pid, "SIGTERM");
    let timer: NodeJS.Timeout | undefined;
    const killed = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        this.#note(`${this.name} did not stop within ${this.#opts.stopTimeoutMs ?? 5000} ms; killing it`);
        signalGroup(child.pid!, "SIGKILL");
        resolve();
      }, this.#opts.stopTimeoutMs ?? 5000);
    });
    await Promise.race([exited, killed]);
    await exited;
    clearTimeout(timer);
    // Whatever the process left behind in its group goes too.
    signalGroup(child.pid, "SIGKILL");
  }

  /** Last resort on exit of `skiff up` itself: no waiting, no restarts. */
  killNow(): void {
    this.#wanted = false;
    clearTimeout(this.#restartTimer);
    if (this.#child?.pid !== undefined) signalGroup(this.#child.pid, "SIGKILL");
  }
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      // Already gone.
    }
  }
}
