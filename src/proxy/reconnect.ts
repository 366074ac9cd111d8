// When the proxy's gRPC streams (xDS, SDS) end, they reconnect after a jittered, doubling
// delay: a random 50–100% of the current delay, so that many proxies cut off by one
// control-plane restart do not all come back in the same instant, and doubling up to a
// cap, so that a server that stays down is not hammered. An answer resets the delay.

export class Reconnect {
  #delayMs: number;
  #timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly initialMs: number,
    private readonly maxMs: number,
  ) {
    this.#delayMs = initialMs;
  }

  /** The stream answered: the next wait starts from the first delay again. */
  reset(): void {
    this.#delayMs = this.initialMs;
  }

  /** Runs `connect` after the next delay, which it returns (for the log line). The timer
   *  does not keep the process alive: a proxy that is shutting down exits. */
  schedule(connect: () => void): number {
    const delay = Math.floor(this.#delayMs * (0.5 + Math.random() / 2));
    this.#delayMs = Math.min(this.#delayMs * 2, this.maxMs);
    clearTimeout(this.#timer);
    this.#timer = setTimeout(connect, delay);
    this.#timer.unref();
    return delay;
  }

  /** Drops a scheduled attempt (the client stops). */
  cancel(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
