// Requests waiting for a connection to one host, shared by the HTTP/1.1 and HTTP/2
// pools. A request that finds no usable connection waits here if the cluster's
// max_pending_requests breaker has room, else it overflows (the router answers 503
// UO). Each waiting request leaves the queue exactly once: started when capacity
// frees up, failed when the host leaves the cluster, or cancelled by its downstream.
import type { HostImpl } from "./host.ts";
import type { PoolOwner } from "./pool.ts";
import type { UpstreamHttpRequest, UpstreamHttpResult } from "./types.ts";

export class PendingRequests {
  private readonly queue: Array<() => void> = [];
  /** How to fail each queued request when the pool closes (its host left the cluster). */
  private readonly failQueued = new Map<() => void, () => void>();

  constructor(
    private readonly host: HostImpl,
    private readonly owner: PoolOwner,
  ) {}

  /**
   * Queue `req` until `drain` finds capacity, then send it with `dispatch`; or answer
   * overflow at once when the pending breaker is full.
   */
  admit(req: UpstreamHttpRequest, done: () => void, dispatch: () => Promise<UpstreamHttpResult>): Promise<UpstreamHttpResult> {
    const { breaker, stats } = this.owner;
    if (!breaker.canQueue()) {
      stats.upstream_rq_pending_overflow++;
      done();
      return Promise.resolve({ kind: "overflow", reason: "max_pending_requests" });
    }
    stats.upstream_cx_overflow++;
    breaker.pending++;
    stats.upstream_rq_pending_total++;
    stats.upstream_rq_pending_active++;
    return new Promise((resolve) => {
      const leave = () => {
        this.failQueued.delete(start);
        breaker.pending--;
        stats.upstream_rq_pending_active--;
      };
      const start = () => {
        leave();
        resolve(dispatch());
      };
      this.queue.push(start);
      this.failQueued.set(start, () => {
        leave();
        done();
        resolve({ kind: "failure", failure: "connect", host: this.host, detail: "the host left the cluster before a connection was available", responseFlag: "UF" });
      });
      req.signal?.addEventListener("abort", () => {
        const i = this.queue.indexOf(start);
        if (i < 0) return;
        this.queue.splice(i, 1);
        leave();
        stats.upstream_rq_cancelled++;
        done();
        resolve({ kind: "failure", failure: "aborted", host: this.host, detail: "request cancelled while waiting for a connection" });
      }, { once: true });
    });
  }

  /** Fail every queued request with a connect failure. */
  failAll(): void {
    this.queue.length = 0;
    for (const fail of [...this.failQueued.values()]) fail();
  }

  /** Start queued requests, oldest first, while `canDispatch` says there is capacity. */
  drain(canDispatch: () => boolean): void {
    while (this.queue.length > 0 && canDispatch()) this.queue.shift()!();
  }
}
