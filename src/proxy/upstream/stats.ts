// Cluster stats: creation, flattening to Envoy's dotted names, and Prometheus exposition.
import { GAUGE_STATS } from "./types.ts";
import type { ClusterStats, StatEntry } from "./types.ts";

export function newClusterStats(): ClusterStats {
  return {
    upstream_rq_total: 0, upstream_rq_completed: 0,
    upstream_rq_1xx: 0, upstream_rq_2xx: 0, upstream_rq_3xx: 0, upstream_rq_4xx: 0, upstream_rq_5xx: 0,
    upstream_rq_active: 0, upstream_rq_pending_total: 0, upstream_rq_pending_active: 0,
    upstream_rq_pending_overflow: 0, upstream_rq_timeout: 0, upstream_rq_per_try_timeout: 0,
    upstream_rq_retry: 0, upstream_rq_retry_overflow: 0, upstream_rq_rx_reset: 0, upstream_rq_tx_reset: 0,
    upstream_rq_cancelled: 0,
    upstream_cx_total: 0, upstream_cx_active: 0, upstream_cx_http1_total: 0, upstream_cx_http2_total: 0,
    upstream_cx_connect_fail: 0, upstream_cx_destroy: 0, upstream_cx_overflow: 0, upstream_cx_idle_timeout: 0,
    upstream_cx_max_requests: 0, upstream_cx_rx_bytes_total: 0, upstream_cx_tx_bytes_total: 0,
    upstream_cx_none_healthy: 0,
    membership_healthy: 0, membership_degraded: 0, membership_total: 0, membership_change: 0,
    outlier_detection_ejections_active: 0, outlier_detection_ejections_enforced_total: 0,
    outlier_detection_ejections_enforced_consecutive_5xx: 0,
    outlier_detection_ejections_enforced_consecutive_gateway_failure: 0,
    outlier_detection_ejections_detected_consecutive_5xx: 0,
    outlier_detection_ejections_detected_consecutive_gateway_failure: 0,
    outlier_detection_ejections_overflow: 0,
    outlier_detection_ejections_detected_consecutive_local_origin_failure: 0,
    outlier_detection_ejections_enforced_consecutive_local_origin_failure: 0,
    update_success: 0, update_empty: 0,
  };
}

/** One cluster's stats as entries named `cluster.<name>.<stat>`, stats sorted by name. */
export function clusterStatEntries(cluster: string, stats: ClusterStats): StatEntry[] {
  const keys = Object.keys(stats).sort() as Array<keyof ClusterStats>;
  return keys.map((stat) => ({
    name: `cluster.${cluster}.${stat}`,
    stat,
    cluster,
    kind: GAUGE_STATS.has(stat) ? "gauge" : "counter",
    value: stats[stat],
  }));
}

/** Escape a Prometheus label value (backslash, quote, newline). */
function escapeLabel(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

/**
 * Prometheus text exposition of cluster stats as Envoy prints them:
 * `envoy_cluster_upstream_rq_total{envoy_cluster_name="x"} 3`, one TYPE line per metric.
 */
export function prometheusStats(entries: readonly StatEntry[]): string {
  const byStat = new Map<string, StatEntry[]>();
  for (const e of entries) {
    const list = byStat.get(e.stat);
    if (list) list.push(e);
    else byStat.set(e.stat, [e]);
  }
  const lines: string[] = [];
  for (const stat of [...byStat.keys()].sort()) {
    const list = byStat.get(stat)!;
    const metric = `envoy_cluster_${stat}`;
    lines.push(`# TYPE ${metric} ${list[0].kind}`);
    for (const e of list) lines.push(`${metric}{envoy_cluster_name="${escapeLabel(e.cluster)}"} ${e.value}`);
  }
  return lines.length ? lines.join("\n") + "\n" : "";
}
