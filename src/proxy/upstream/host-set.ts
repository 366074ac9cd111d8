// Which hosts a load balancer may choose from, following Envoy's health rules:
// hosts of the lowest priority level that has a healthy host; within it only healthy
// hosts (not ejected, EDS status not UNHEALTHY/DRAINING/TIMEOUT) unless fewer than
// healthy_panic_threshold percent are healthy, in which case Envoy "panics" and balances
// across all hosts of the level. Simplification of Envoy's priority spill-over: a level
// takes all traffic while it has any healthy host (documented in docs/proxy-upstream.md).
import type { SlowStart } from "./config.ts";
import type { HostImpl } from "./host.ts";
import type { HostSet } from "./lb/types.ts";

export interface ChosenHostSet extends HostSet {
  panic: boolean;
  /** Slow start: the weights are valid until this time (ms), then the set is rebuilt. */
  expiresAtMs?: number;
}

export function buildHostSet(
  all: readonly HostImpl[], panicThresholdPercent: number, localityWeighted: boolean, version: number,
  slowStart?: SlowStart, now = 0,
): ChosenHostSet {
  if (all.length === 0) return { hosts: [], weights: [], uniform: true, version, panic: false };
  const priorities = [...new Set(all.map((h) => h.priority))].sort((a, b) => a - b);
  let level = all.filter((h) => h.priority === priorities[0]);
  for (const p of priorities) {
    const candidates = all.filter((h) => h.priority === p);
    if (candidates.some((h) => h.healthy)) {
      level = candidates;
      break;
    }
  }
  const healthy = level.filter((h) => h.healthy);
  const panic = (healthy.length * 100) / level.length < panicThresholdPercent;
  const hosts = panic ? level : healthy;
  const weights = effectiveWeights(hosts, localityWeighted);
  let expiresAtMs: number | undefined;
  if (slowStart) {
    // Envoy: weight × max(min_weight_percent, (max(age s, 1) / window s)^(1/aggression))
    // while a host is younger than slow_start_window. Re-evaluated every second.
    hosts.forEach((h, i) => {
      const age = now - h.addedAtMs;
      if (age >= slowStart.windowMs) return;
      const factor = Math.max(age / 1000, 1) / (slowStart.windowMs / 1000);
      weights[i] *= Math.max(slowStart.minWeightPercent / 100, Math.pow(factor, 1 / slowStart.aggression));
      expiresAtMs = now + 1000;
    });
  }
  const uniform = weights.every((w) => Math.abs(w - weights[0]) < 1e-9);
  return { hosts, weights, uniform, version, panic, expiresAtMs };
}

/**
 * Host weights; with locality weighting each locality's share is its load_balancing_weight
 * and a host gets its weight's fraction of that share. (Envoy picks a locality first, then a
 * host in it; the expected split is the same.)
 */
function effectiveWeights(hosts: readonly HostImpl[], localityWeighted: boolean): number[] {
  if (!localityWeighted) return hosts.map((h) => h.weight);
  const localityKey = (h: HostImpl) => `${h.locality.region ?? ""}/${h.locality.zone ?? ""}/${h.locality.sub_zone ?? ""}`;
  const sums = new Map<string, number>();
  for (const h of hosts) sums.set(localityKey(h), (sums.get(localityKey(h)) ?? 0) + h.weight);
  return hosts.map((h) => (h.localityWeight * h.weight) / sums.get(localityKey(h))!);
}
