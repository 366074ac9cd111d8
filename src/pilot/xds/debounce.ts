// Push debouncing as Istio does it: wait for a quiet period after the last change so a
// burst of edits becomes one push, but never delay the first change of a burst by more
// than `maxDelayMs`, so a steady trickle of changes cannot starve proxies.
export interface DebounceOptions {
  quietMs: number;
  maxDelayMs: number;
}

export class Debouncer {
  #timer: NodeJS.Timeout | undefined;
  /** When the first change of the pending burst arrived (for convergence time). */
  #firstChangeAt: number | undefined;
  #stopped = false;

  constructor(
    private readonly opts: DebounceOptions,
    private readonly fire: (firstChangeAt: number) => void,
  ) {}

  /** Records a change; schedules the push. */
  trigger(): void {
    if (this.#stopped) return;
    const now = Date.now();
    this.#firstChangeAt ??= now;
    const deadline = this.#firstChangeAt + this.opts.maxDelayMs;
    const wait = Math.max(0, Math.min(this.opts.quietMs, deadline - now));
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.#flush(), wait);
  }

  #flush(): void {
    const first = this.#firstChangeAt ?? Date.now();
    this.#firstChangeAt = undefined;
    this.#timer = undefined;
    this.fire(first);
  }

  get pending(): boolean {
    return this.#timer !== undefined;
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
