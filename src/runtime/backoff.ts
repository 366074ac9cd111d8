// Restart policy for crashed processes: exponential backoff as Kubernetes' CrashLoopBackOff,
// scaled for a laptop (0.5 s doubling to 30 s instead of 10 s to 5 min). A process that
// stayed up long enough is considered healthy again and its next crash restarts quickly.

export interface BackoffOptions {
  initialMs?: number;
  maxMs?: number;
  /** Uptime after which the delay resets to `initialMs`. */
  resetAfterMs?: number;
}

export class Backoff {
  readonly initialMs: number;
  readonly maxMs: number;
  readonly resetAfterMs: number;
  #failures = 0;
  #startedAt: number | undefined;

  constructor(opts: BackoffOptions = {}) {
    this.initialMs = opts.initialMs ?? 500;
    this.maxMs = opts.maxMs ?? 30_000;
    this.resetAfterMs = opts.resetAfterMs ?? 10_000;
  }

  /** The process was started at `now` (ms). */
  started(now: number): void {
    this.#startedAt = now;
  }

  /** The process exited at `now`; returns how long to wait before starting it again. */
  exited(now: number): number {
    if (this.#startedAt !== undefined && now - this.#startedAt >= this.resetAfterMs) this.#failures = 0;
    const delay = Math.min(this.maxMs, this.initialMs * 2 ** this.#failures);
    this.#failures++;
    return delay;
  }

  /** Consecutive crashes so far (restarts count, for `skiff status`). */
  get failures(): number {
    return this.#failures;
  }
}
