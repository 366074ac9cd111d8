// Addresses for netns mode. The replicas' subnet must be one no real network uses, so
// that nothing a test or a user does can ever reach a machine outside this one: the
// default is 198.18.0.0/24, from 198.18.0.0/15, which RFC 2544/6815 reserve for
// benchmarking and which is never routed on the internet nor used by home or office
// networks (unlike 10/8, 172.16/12, 192.168/16). Service VIPs come from the next /24.
// Link-local 169.254/16 was the other candidate; it is avoided because cloud machines
// use 169.254.169.254 for metadata and some tools treat link-local specially.

export const DEFAULT_SUBNET = "198.18.0.0/24";
export const DEFAULT_SERVICE_SUBNET = "198.18.1.0/24";

export class AddressingError extends Error {}

export interface Subnet {
  /** Network address as a 32-bit number. */
  base: number;
  prefix: number;
  /** How many host addresses it has (network and broadcast excluded). */
  size: number;
  text: string;
}

export function parseSubnet(text: string, field = "subnet"): Subnet {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(text.trim());
  const octets = m ? m.slice(1, 5).map(Number) : [];
  const prefix = m ? Number(m[5]) : -1;
  if (!m || octets.some((o) => o > 255) || prefix < 8 || prefix > 29) {
    throw new AddressingError(`netns: ${field} must be an IPv4 CIDR with a prefix from /8 to /29, like ${DEFAULT_SUBNET}; got ${JSON.stringify(text)}`);
  }
  const addr = ((octets[0]! << 24) | (octets[1]! << 16) | (octets[2]! << 8) | octets[3]!) >>> 0;
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  const base = (addr & mask) >>> 0;
  if (base !== addr) throw new AddressingError(`netns: ${field} ${text} has host bits set; did you mean ${formatAddress(base)}/${prefix}?`);
  return { base, prefix, size: 2 ** (32 - prefix) - 2, text: `${formatAddress(base)}/${prefix}` };
}

export function formatAddress(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");
}

/** The n-th host address (1-based) of the subnet. */
export function hostAddress(subnet: Subnet, n: number): string {
  if (!Number.isInteger(n) || n < 1 || n > subnet.size) {
    throw new AddressingError(`netns: subnet ${subnet.text} has no host number ${n} (it has ${subnet.size}); choose a larger subnet`);
  }
  return formatAddress((subnet.base + n) >>> 0);
}

export function subnetsOverlap(a: Subnet, b: Subnet): boolean {
  const aEnd = a.base + a.size + 1;
  const bEnd = b.base + b.size + 1;
  return a.base <= bEnd && b.base <= aEnd;
}

/**
 * Hands out host addresses: number 1 is the bridge (the replicas' gateway), the last one
 * is the bridge's second address that readiness probes come from (see probeSource), the
 * rest go to replicas, lowest free first, and come back when a replica is removed.
 */
export class AddressPool {
  private readonly used = new Map<string, number>();
  constructor(readonly subnet: Subnet) {}

  get gateway(): string {
    return hostAddress(this.subnet, 1);
  }

  /**
   * The source of the runtime's readiness probes (the kubelet's part): the subnet's last
   * host address. Capture lets connections from it reach the app directly, as Istio's
   * probe rewrite to its agent does, so STRICT mTLS and authorization policies, which
   * rightly refuse a plaintext caller without identity, never fail a probe.
   */
  get probeSource(): string {
    return hostAddress(this.subnet, this.subnet.size);
  }

  /** The address of `owner`; the same owner keeps its address. */
  take(owner: string): string {
    const have = this.used.get(owner);
    if (have !== undefined) return hostAddress(this.subnet, have);
    const taken = new Set(this.used.values());
    for (let n = 2; n < this.subnet.size; n++) {
      if (!taken.has(n)) {
        this.used.set(owner, n);
        return hostAddress(this.subnet, n);
      }
    }
    throw new AddressingError(`netns: subnet ${this.subnet.text} is full (${this.subnet.size - 2} replicas); choose a larger subnet`);
  }

  release(owner: string): void {
    this.used.delete(owner);
  }
}

/**
 * Service VIPs: one per service host, stable for as long as the pool lives. Like a
 * Kubernetes ClusterIP, a VIP is never assigned to an interface; the sidecar's
 * virtualOutbound listener (via SO_ORIGINAL_DST) recognises it.
 */
export class VipPool {
  private readonly pool: AddressPool;
  constructor(subnet: Subnet) {
    this.pool = new AddressPool(subnet);
  }
  vip(hostname: string): string {
    return this.pool.take(hostname);
  }
  release(hostname: string): void {
    this.pool.release(hostname);
  }
}
