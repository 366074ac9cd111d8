// A one-shot cancellation flag with abort listeners: the part of AbortSignal the proxy
// uses (`aborted`, `addEventListener("abort")`, `removeEventListener`).
//
// WHY not AbortController: a request used to create three of them (downstream stream,
// route timeout, per-try), and each costs an EventTarget, a signal object and listener
// bookkeeping — about 4% of a sidecar's CPU in the profile (docs/performance.md, "Proxy
// hot path"). Most requests never abort; this keeps the common path to a boolean and,
// when someone listens, a small array. An AbortSignal is also a CancelSignal, so callers
// that own a real AbortSignal (e.g. a fetch with AbortSignal.timeout) can pass it.

export interface CancelSignal {
  readonly aborted: boolean;
  addEventListener(type: "abort", listener: () => void, options?: { once?: boolean }): void;
  removeEventListener(type: "abort", listener: () => void): void;
}

export class Cancellation implements CancelSignal {
  aborted = false;
  private listeners: Array<() => void> | undefined = undefined;

  /** Listeners run once, on the first abort(); `once` is implied. */
  addEventListener(_type: "abort", listener: () => void, _options?: { once?: boolean }): void {
    if (this.aborted) return;
    (this.listeners ??= []).push(listener);
  }

  removeEventListener(_type: "abort", listener: () => void): void {
    const l = this.listeners;
    if (!l) return;
    const i = l.lastIndexOf(listener);
    if (i >= 0) l.splice(i, 1);
  }

  abort(): void {
    if (this.aborted) return;
    this.aborted = true;
    const l = this.listeners;
    this.listeners = undefined;
    if (l) for (const f of l) f();
  }

  /** Back to "not aborted, nobody listening", for reuse. */
  reset(): void {
    this.aborted = false;
    this.listeners = undefined;
  }
}
