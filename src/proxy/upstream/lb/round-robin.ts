// ROUND_ROBIN: plain rotation when all weights are equal, otherwise smooth weighted round
// robin (each pick adds every host's weight to its credit, takes the host with the most
// credit and charges it the total), which interleaves hosts instead of sending bursts.
import type { HostImpl } from "../host.ts";
import type { HostSet, LoadBalancer } from "./types.ts";

export class RoundRobinLb implements LoadBalancer {
  private version = -1;
  private next = 0;
  private credit: number[] = [];

  constructor(private readonly start = 0) {}

  pick(set: HostSet): HostImpl | null {
    const n = set.hosts.length;
    if (n === 0) return null;
    if (set.version !== this.version) {
      this.version = set.version;
      this.credit = new Array<number>(n).fill(0);
      this.next = this.start % n;
    }
    if (set.uniform) {
      const host = set.hosts[this.next % n];
      this.next = (this.next + 1) % n;
      return host;
    }
    return set.hosts[smoothWeightedPick(set.weights, this.credit)];
  }
}

/** One step of smooth weighted round robin over `weights`, updating `credit` in place. */
export function smoothWeightedPick(weights: readonly number[], credit: number[]): number {
  let total = 0;
  let best = 0;
  for (let i = 0; i < weights.length; i++) {
    credit[i] += weights[i];
    total += weights[i];
    if (credit[i] > credit[best]) best = i;
  }
  credit[best] -= total;
  return best;
}
