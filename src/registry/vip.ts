// Virtual IPs for services that have none (the local runtime's Services, ServiceEntries
// without addresses), so that a sidecar can tell them apart by destination address.
// Like Istio's auto-allocation they come from 240.240.0.0/16 (reserved space, never
// routed). Each host's address is derived from a hash of its name, so it is the same
// on every restart and whatever order the config was read in. Collisions: hosts are
// taken in name order and each takes the first free address from its own hash slot on,
// so the result depends only on the set of hostnames, never on input order.
import { createHash } from "node:crypto";

const BASE = (240 << 24) | (240 << 16);

/** Usable offsets in the /16: last octet 0 and 255 are skipped (network/broadcast look-alikes). */
const OFFSETS: readonly number[] = (() => {
  const out: number[] = [];
  for (let i = 1; i < 0xffff; i++) {
    const last = i & 0xff;
    if (last !== 0 && last !== 255) out.push(i);
  }
  return out;
})();

/** Where a hostname's address would be without collisions: an index into OFFSETS. */
function homeSlot(hostname: string): number {
  const digest = createHash("sha256").update(hostname).digest();
  return digest.readUInt32BE(0) % OFFSETS.length;
}

function toIp(offset: number): string {
  const n = (BASE | offset) >>> 0;
  return `${n >>> 24}.${(n >>> 16) & 0xff}.${(n >>> 8) & 0xff}.${n & 0xff}`;
}

/**
 * Allocates one address per hostname. `taken` are addresses already in use (explicit
 * cluster IPs, ServiceEntry addresses), which are never handed out.
 */
export function allocateVips(hostnames: Iterable<string>, taken: Iterable<string> = []): Map<string, string> {
  const used = new Set(taken);
  const out = new Map<string, string>();
  const sorted = [...new Set(hostnames)].sort();
  if (sorted.length > OFFSETS.length) throw new Error(`too many services for automatic addresses (${sorted.length})`);
  for (const host of sorted) {
    let slot = homeSlot(host);
    // Bounded: at most OFFSETS.length probes, and there is a free one (checked above,
    // though explicit addresses may fill some; then the loop ends without one).
    for (let probes = 0; probes < OFFSETS.length; probes++) {
      const ip = toIp(OFFSETS[slot]);
      if (!used.has(ip)) {
        used.add(ip);
        out.set(host, ip);
        break;
      }
      slot = (slot + 1) % OFFSETS.length;
    }
  }
  return out;
}
