// MAGLEV consistent hashing, with Envoy's table construction: each host has a permutation
// of table slots (offset = xxHash64(addr) mod M, skip = xxHash64(addr, seed 1) mod (M-1) + 1)
// and hosts take turns claiming their next free slot; a host whose weight is a fraction of
// the heaviest host's weight takes a turn only that fraction of the rounds. A request goes to
// table[hash mod M].
import { hashKeySeeded } from "../hash.ts";
import type { HostImpl } from "../host.ts";
import type { LbContext } from "../types.ts";
import { randomHash } from "./types.ts";
import type { HostSet, LoadBalancer, Random } from "./types.ts";

export class MaglevLb implements LoadBalancer {
  private version = -1;
  private table: Int32Array = new Int32Array(0);
  private hosts: readonly HostImpl[] = [];

  constructor(private readonly random: Random, private readonly tableSize = 65537) {}

  pick(set: HostSet, ctx: LbContext, attempt: number): HostImpl | null {
    if (set.hosts.length === 0) return null;
    if (set.version !== this.version) this.build(set);
    const h = ctx.hash ?? randomHash(this.random);
    const slot = Number((h + BigInt(attempt)) % BigInt(this.tableSize));
    return this.hosts[this.table[slot]];
  }

  /** How many table slots each host owns (for tests). */
  slotCounts(): Map<HostImpl, number> {
    const counts = new Map<HostImpl, number>();
    for (const i of this.table) counts.set(this.hosts[i], (counts.get(this.hosts[i]) ?? 0) + 1);
    return counts;
  }

  private build(set: HostSet): void {
    this.version = set.version;
    this.hosts = set.hosts;
    const m = this.tableSize;
    const bigM = BigInt(m);
    const total = set.weights.reduce((a, b) => a + b, 0);
    const entries = set.hosts.map((host, i) => ({
      offset: Number(hashKeySeeded(host.key, 0n) % bigM),
      skip: Number(hashKeySeeded(host.key, 1n) % (bigM - 1n)) + 1,
      weight: set.weights[i] / total,
      target: 0,
      next: 0,
    }));
    const maxWeight = Math.max(...entries.map((e) => e.weight));
    const table = new Int32Array(m).fill(-1);
    let filled = 0;
    for (let iteration = 1; filled < m; iteration++) {
      for (let i = 0; i < entries.length && filled < m; i++) {
        const e = entries[i];
        if (iteration * e.weight < e.target) continue;
        e.target += maxWeight;
        // Slot arithmetic stays below 2^53: offset, skip < M and next < M * M for M ≈ 65537.
        let c = (e.offset + e.skip * e.next) % m;
        while (table[c] !== -1) {
          e.next++;
          c = (e.offset + e.skip * e.next) % m;
        }
        table[c] = i;
        e.next++;
        filled++;
      }
    }
    this.table = table;
  }
}
