// RING_HASH (Ketama-style consistent hashing) built as Envoy builds it: every host gets a
// share of the ring proportional to its weight, ring positions are xxHash64 of
// "<address:port>_<n>", the ring size is scaled so the lightest host gets at least one
// entry per minimum_ring_size share, capped at maximum_ring_size. A request's hash maps to
// the first entry at or after it (wrapping around).
import { hashKey } from "../hash.ts";
import type { HostImpl } from "../host.ts";
import type { LbContext } from "../types.ts";
import { randomHash } from "./types.ts";
import type { HostSet, LoadBalancer, Random } from "./types.ts";

export class RingHashLb implements LoadBalancer {
  private version = -1;
  private hashes: BigUint64Array = new BigUint64Array(0);
  private owners: HostImpl[] = [];

  constructor(private readonly random: Random, private readonly minSize = 1024, private readonly maxSize = 8 * 1024 * 1024) {}

  /** Number of ring entries (for tests and stats). */
  get size(): number {
    return this.hashes.length;
  }

  pick(set: HostSet, ctx: LbContext, attempt: number): HostImpl | null {
    if (set.hosts.length === 0) return null;
    if (set.version !== this.version) this.build(set);
    const h = ctx.hash ?? randomHash(this.random);
    const n = this.hashes.length;
    // Binary search for the first entry >= h.
    let lo = 0;
    let hi = n;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.hashes[mid] < h) lo = mid + 1;
      else hi = mid;
    }
    return this.owners[(lo + attempt) % n];
  }

  private build(set: HostSet): void {
    this.version = set.version;
    const total = set.weights.reduce((a, b) => a + b, 0);
    const normalized = set.weights.map((w) => w / total);
    const minNormalized = Math.min(...normalized);
    const scale = Math.min(Math.ceil(minNormalized * this.minSize) / minNormalized, this.maxSize);
    const entries: Array<{ hash: bigint; host: HostImpl }> = [];
    let target = 0;
    let current = 0;
    set.hosts.forEach((host, i) => {
      target += scale * normalized[i];
      let n = 0;
      while (current < target) {
        entries.push({ hash: hashKey(`${host.key}_${n}`), host });
        n++;
        current++;
      }
    });
    entries.sort((a, b) => (a.hash < b.hash ? -1 : a.hash > b.hash ? 1 : 0));
    this.hashes = BigUint64Array.from(entries.map((e) => e.hash));
    this.owners = entries.map((e) => e.host);
  }
}
