// RANDOM: a uniformly random host. Like Envoy's random balancer it does not look at weights.
import type { HostImpl } from "../host.ts";
import type { HostSet, LoadBalancer, Random } from "./types.ts";

export class RandomLb implements LoadBalancer {
  constructor(private readonly random: Random) {}

  pick(set: HostSet): HostImpl | null {
    const n = set.hosts.length;
    return n === 0 ? null : set.hosts[Math.floor(this.random() * n) % n];
  }
}
