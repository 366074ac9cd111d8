// What every load balancer sees: the hosts it may choose from (already filtered for health
// and panic by ../host-set.ts) with their effective weights, and a version that changes
// whenever that list or any weight changes, so balancers can rebuild cached state.
import type { HostImpl } from "../host.ts";
import type { LbContext } from "../types.ts";

export interface HostSet {
  readonly hosts: readonly HostImpl[];
  /** Effective weight of each host (host weight, scaled by locality weight when enabled). */
  readonly weights: readonly number[];
  /** True when every weight is equal (the plain, unweighted algorithm applies). */
  readonly uniform: boolean;
  readonly version: number;
}

export interface LoadBalancer {
  /**
   * Choose a host, or null for an empty set. `attempt` counts re-picks for the same request
   * when the previous pick was rejected (previous_hosts); hash balancers step along their
   * ring/table, the others just pick again.
   */
  pick(set: HostSet, ctx: LbContext, attempt: number): HostImpl | null;
}

/** Source of uniform random numbers in [0,1); injected so tests are deterministic. */
export type Random = () => number;

/** A random unsigned 64-bit value (for hash balancers when the request carries no hash). */
export function randomHash(random: Random): bigint {
  const hi = BigInt(Math.floor(random() * 0x100000000));
  const lo = BigInt(Math.floor(random() * 0x100000000));
  return (hi << 32n) | lo;
}
