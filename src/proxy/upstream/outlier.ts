// Outlier detection (consecutive 5xx and consecutive gateway failures) as Envoy does it:
// a host is ejected as soon as a counter reaches its threshold (if the enforcing_* dice
// say so and max_ejection_percent allows), stays out for base_ejection_time × (number of
// times it was ejected), capped at max_ejection_time, and comes back at the first interval
// sweep after that. A non-error response resets the counters; a host that stays in for an
// interval gets one ejection forgiven. Local failures (connect failure, reset, timeout)
// count as gateway errors (503/504), as Envoy counts them when local-origin errors are not
// split out; with split_external_local_origin_errors they have their own counter
// (consecutive_local_origin_failure).
import type { OutlierConfig } from "./config.ts";
import type { HostImpl } from "./host.ts";
import type { ClusterStats, RequestOutcome } from "./types.ts";

export class OutlierDetector {
  constructor(
    private readonly config: OutlierConfig,
    private readonly stats: ClusterStats,
    private readonly hosts: () => readonly HostImpl[],
    private readonly now: () => number,
    private readonly random: () => number,
    /** Called when a host's ejection state changes (the host set must be rebuilt). */
    private readonly onChange: () => void,
  ) {}

  get intervalMs(): number {
    return this.config.intervalMs;
  }

  record(host: HostImpl, outcome: RequestOutcome): void {
    if (this.config.splitLocalOrigin) {
      // Split mode: local failures (connect, reset, timeout) have their own counter and
      // leave the 5xx/gateway counters to what the upstream actually answered.
      if ("localFailure" in outcome) {
        host.consecutiveLocalOriginFailure++;
        if (!host.ejected && host.consecutiveLocalOriginFailure >= this.config.consecutiveLocalOriginFailure) {
          this.stats.outlier_detection_ejections_detected_consecutive_local_origin_failure++;
          if (this.tryEject(host, this.config.enforcingLocalOrigin)) this.stats.outlier_detection_ejections_enforced_consecutive_local_origin_failure++;
        }
        return;
      }
      // Any answer from the upstream means the connection worked.
      host.consecutiveLocalOriginFailure = 0;
    }
    const status = "status" in outcome ? outcome.status : outcome.localFailure === "timeout" ? 504 : 503;
    if (status < 500) {
      host.consecutive5xx = 0;
      host.consecutiveGatewayFailure = 0;
      return;
    }
    host.consecutive5xx++;
    if (status === 502 || status === 503 || status === 504) host.consecutiveGatewayFailure++;
    else host.consecutiveGatewayFailure = 0;
    if (host.ejected) return;
    const c = this.config;
    if (host.consecutiveGatewayFailure >= c.consecutiveGatewayFailure) {
      this.stats.outlier_detection_ejections_detected_consecutive_gateway_failure++;
      if (this.tryEject(host, c.enforcingGatewayFailure)) {
        this.stats.outlier_detection_ejections_enforced_consecutive_gateway_failure++;
        return;
      }
    }
    if (host.consecutive5xx >= c.consecutive5xx) {
      this.stats.outlier_detection_ejections_detected_consecutive_5xx++;
      if (this.tryEject(host, c.enforcing5xx)) this.stats.outlier_detection_ejections_enforced_consecutive_5xx++;
    }
  }

  /** The periodic sweep: bring back hosts whose ejection time is over. */
  sweep(): void {
    const now = this.now();
    let changed = false;
    for (const host of this.hosts()) {
      if (host.ejected) {
        const duration = Math.min(this.config.baseEjectionMs * host.numEjections, Math.max(this.config.maxEjectionMs, this.config.baseEjectionMs));
        if (now - host.ejectedAtMs >= duration) {
          host.ejected = false;
          host.consecutive5xx = 0;
          host.consecutiveGatewayFailure = 0;
          host.consecutiveLocalOriginFailure = 0;
          this.stats.outlier_detection_ejections_active--;
          changed = true;
        }
      } else if (host.numEjections > 0) {
        host.numEjections--;
      }
    }
    if (changed) this.onChange();
  }

  private tryEject(host: HostImpl, enforcingPercent: number): boolean {
    if (this.random() * 100 >= enforcingPercent) return false;
    const total = this.hosts().length;
    const ejected = this.stats.outlier_detection_ejections_active;
    if (total === 0 || (ejected * 100) / total >= this.config.maxEjectionPercent) {
      this.stats.outlier_detection_ejections_overflow++;
      return false;
    }
    host.ejected = true;
    host.numEjections++;
    host.ejectedAtMs = this.now();
    host.consecutive5xx = 0;
    host.consecutiveGatewayFailure = 0;
    host.consecutiveLocalOriginFailure = 0;
    this.stats.outlier_detection_ejections_active++;
    this.stats.outlier_detection_ejections_enforced_total++;
    this.onChange();
    return true;
  }

  /** A host left the cluster: forget its ejection. */
  forget(host: HostImpl): void {
    if (host.ejected) {
      host.ejected = false;
      this.stats.outlier_detection_ejections_active--;
    }
  }
}
