// Envoy's per-cluster circuit breakers (DEFAULT priority): counts of open connections,
// requests waiting for a connection, active requests and active retries, each with a
// threshold. Crossing a threshold never queues: the caller gets an "overflow" (503, UO).
import type { Thresholds } from "./config.ts";

export class CircuitBreaker {
  connections = 0;
  pending = 0;
  requests = 0;
  retries = 0;

  constructor(public thresholds: Thresholds) {}

  canConnect(): boolean {
    return this.connections < this.thresholds.max_connections;
  }
  canQueue(): boolean {
    return this.pending < this.thresholds.max_pending_requests;
  }
  canRequest(): boolean {
    return this.requests < this.thresholds.max_requests;
  }
  canRetry(): boolean {
    return this.retries < this.thresholds.max_retries;
  }
}
