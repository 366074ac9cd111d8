// LEAST_REQUEST. Equal weights: "power of N choices" — draw choice_count hosts at random
// (with replacement, as Envoy does) and take the one with the fewest active requests.
// Unequal weights: as Envoy, each host's weight is divided by (active requests + 1)^bias and
// the hosts are scheduled by those dynamic weights (smooth weighted round robin here).
import type { HostImpl } from "../host.ts";
import { smoothWeightedPick } from "./round-robin.ts";
import type { HostSet, LoadBalancer, Random } from "./types.ts";

export class LeastRequestLb implements LoadBalancer {
  private version = -1;
  private credit: number[] = [];

  constructor(private readonly random: Random, private readonly choiceCount = 2, private readonly bias = 1) {}

  pick(set: HostSet): HostImpl | null {
    const n = set.hosts.length;
    if (n === 0) return null;
    if (set.uniform) {
      let best: HostImpl | null = null;
      for (let i = 0; i < this.choiceCount; i++) {
        const candidate = set.hosts[Math.floor(this.random() * n) % n];
        if (best === null || candidate.stats.rq_active < best.stats.rq_active) best = candidate;
      }
      return best;
    }
    if (set.version !== this.version) {
      this.version = set.version;
      this.credit = new Array<number>(n).fill(0);
    }
    const dynamic = set.weights.map((w, i) => w / Math.pow(set.hosts[i].stats.rq_active + 1, this.bias));
    return set.hosts[smoothWeightedPick(dynamic, this.credit)];
  }
}
