// One upstream cluster: its hosts (static, EDS, DNS-resolved or original destination),
// the load balancer over the healthy ones, per-host connection pools, circuit breakers,
// outlier detection and stats.
import { isIP } from "node:net";
import { CircuitBreaker } from "./circuit-breaker.ts";
import type { EndpointSpec, ParsedCluster, SourceAddress } from "./config.ts";
import { HostImpl } from "./host.ts";
import { buildHostSet } from "./host-set.ts";
import type { ChosenHostSet } from "./host-set.ts";
import { LeastRequestLb } from "./lb/least-request.ts";
import { MaglevLb } from "./lb/maglev.ts";
import { RandomLb } from "./lb/random.ts";
import { RingHashLb } from "./lb/ring-hash.ts";
import { RoundRobinLb } from "./lb/round-robin.ts";
import type { LoadBalancer } from "./lb/types.ts";
import { OutlierDetector } from "./outlier.ts";
import { Http1Pool } from "./pool-h1.ts";
import { Http2Pool } from "./pool-h2.ts";
import type { ConnectionPool, PoolOwner } from "./pool.ts";
import { newClusterStats } from "./stats.ts";
import type { SecretLookup, TlsSpec } from "./tls.ts";
import { matchSocket } from "./config.ts";
import type {
  ClusterDump, ClusterStats, ClusterType, EnvoyJson, Host, LbContext, LbPolicyName, RequestOutcome,
  UpstreamCluster, UpstreamHttpRequest, UpstreamHttpResult,
} from "./types.ts";

/** Everything injectable (clock, randomness, timers, DNS) so tests are deterministic. */
export interface ClusterDeps {
  now: () => number;
  random: () => number;
  setInterval: (fn: () => void, ms: number) => unknown;
  clearInterval: (handle: unknown) => void;
  resolve: (hostname: string, family: "v4" | "v6" | "any") => Promise<string[]>;
  secrets?: SecretLookup;
}

/** How many times selectHost re-picks to avoid a previously tried host. */
const PREVIOUS_HOST_ATTEMPTS = 5;

export class ClusterImpl implements UpstreamCluster, PoolOwner {
  readonly name: string;
  readonly type: ClusterType;
  readonly lbPolicy: LbPolicyName;
  readonly stats: ClusterStats = newClusterStats();
  readonly breaker: CircuitBreaker;
  readonly connectTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly maxRequestsPerConnection: number;
  readonly maxConnectionDurationMs: number;
  readonly maxConcurrentStreams: number;
  readonly sourceAddress?: SourceAddress;
  warming: boolean;
  lastUpdated: Date;
  loadAssignment?: EnvoyJson;

  private hostList: HostImpl[] = [];
  private readonly pools = new Map<HostImpl, { h1?: ConnectionPool; h2?: ConnectionPool }>();
  private readonly lb: LoadBalancer | undefined;
  private readonly outlier: OutlierDetector | undefined;
  private chosen: ChosenHostSet | undefined;
  private version = 0;
  private readonly timers: unknown[] = [];
  private closed = false;

  constructor(readonly config: EnvoyJson, readonly parsed: ParsedCluster, private readonly deps: ClusterDeps) {
    this.name = parsed.name;
    this.type = parsed.type;
    this.lbPolicy = parsed.lbPolicy;
    this.breaker = new CircuitBreaker(parsed.thresholds);
    this.connectTimeoutMs = parsed.connectTimeoutMs;
    this.idleTimeoutMs = parsed.idleTimeoutMs;
    this.maxRequestsPerConnection = parsed.maxRequestsPerConnection;
    this.maxConnectionDurationMs = parsed.maxConnectionDurationMs;
    this.maxConcurrentStreams = parsed.maxConcurrentStreams;
    this.sourceAddress = parsed.sourceAddress;
    this.lastUpdated = new Date(deps.now());
    this.lb = makeLoadBalancer(parsed, deps.random);
    if (parsed.outlier) {
      this.outlier = new OutlierDetector(parsed.outlier, this.stats, () => this.hostList, deps.now, deps.random, () => this.invalidate());
      this.timers.push(deps.setInterval(() => this.outlier!.sweep(), parsed.outlier.intervalMs));
    }
    // EDS waits for its assignment, DNS for its first resolution; the others are ready now.
    this.warming = parsed.type === "EDS" || parsed.type === "STRICT_DNS" || parsed.type === "LOGICAL_DNS";
    if (parsed.type === "STATIC") this.setEndpoints(parsed.endpoints, parsed.loadAssignment);
    if (parsed.type === "STRICT_DNS" || parsed.type === "LOGICAL_DNS") {
      this.loadAssignment = parsed.loadAssignment;
      void this.refreshDns();
      this.timers.push(deps.setInterval(() => void this.refreshDns(), parsed.dnsRefreshMs));
    }
    if (parsed.type === "ORIGINAL_DST") {
      this.timers.push(deps.setInterval(() => this.cleanupOriginalDst(), parsed.cleanupIntervalMs));
    }
  }

  hosts(): readonly Host[] {
    return this.hostList;
  }

  /** Sweep outlier ejections now (tests drive it with an injected clock). */
  outlierSweep(): void {
    this.outlier?.sweep();
  }

  /**
   * Replace the cluster's endpoints. Hosts with the same address:port keep their identity,
   * pools and outlier state; removed hosts' pools are closed.
   */
  setEndpoints(specs: readonly EndpointSpec[], loadAssignment?: EnvoyJson): void {
    const old = new Map(this.hostList.map((h) => [h.key, h]));
    const next: HostImpl[] = [];
    const seen = new Set<string>();
    for (const spec of specs) {
      const probe = new HostImpl(spec.address, spec.port, spec);
      if (seen.has(probe.key)) continue;
      seen.add(probe.key);
      const existing = old.get(probe.key);
      if (existing) {
        existing.update(spec);
        next.push(existing);
        old.delete(probe.key);
      } else {
        probe.addedAtMs = this.deps.now();
        next.push(probe);
      }
      (existing ?? probe).tls = this.tlsFor(spec);
    }
    for (const gone of old.values()) this.removeHost(gone);
    this.hostList = next;
    this.loadAssignment = loadAssignment ?? this.loadAssignment;
    this.warming = false;
    this.lastUpdated = new Date(this.deps.now());
    this.stats.update_success++;
    if (specs.length === 0) this.stats.update_empty++;
    this.stats.membership_change++;
    this.invalidate();
  }

  /** The TLS settings a host connects with: its transport_socket_matches entry, else the cluster's. */
  private tlsFor(spec: Pick<EndpointSpec, "metadata">): TlsSpec | undefined {
    const matches = this.parsed.socketMatches;
    if (matches.length > 0) {
      const m = matchSocket(matches, spec);
      if (m) return m.tls;
    }
    return this.parsed.tls;
  }

  get secrets(): SecretLookup | undefined {
    return this.deps.secrets;
  }

  private removeHost(host: HostImpl): void {
    this.outlier?.forget(host);
    const p = this.pools.get(host);
    p?.h1?.failPending();
    p?.h2?.failPending();
    p?.h1?.close();
    p?.h2?.close();
    this.pools.delete(host);
  }

  private invalidate(): void {
    this.chosen = undefined;
    this.version++;
    let healthy = 0;
    let degraded = 0;
    for (const h of this.hostList) {
      if (h.healthy) healthy++;
      if (h.healthStatus === "DEGRADED") degraded++;
    }
    this.stats.membership_total = this.hostList.length;
    this.stats.membership_healthy = healthy;
    this.stats.membership_degraded = degraded;
  }

  private hostSet(): ChosenHostSet {
    const c = this.chosen;
    if (c && (c.expiresAtMs === undefined || this.deps.now() < c.expiresAtMs)) return c;
    // Same version when only slow-start weights moved: balancers keep their state.
    this.chosen = buildHostSet(this.hostList, this.parsed.panicThresholdPercent, this.parsed.localityWeighted, this.version, this.parsed.slowStart, this.deps.now());
    return this.chosen;
  }

  selectHost(ctx: LbContext): Host | null {
    if (this.type === "ORIGINAL_DST") return this.originalDstHost(ctx);
    const set = this.hostSet();
    if (set.hosts.length === 0 || !this.lb) return null;
    let host = this.lb.pick(set, ctx, 0);
    const previous = ctx.previousHosts;
    if (previous && previous.size > 0) {
      for (let attempt = 1; host && previous.has(host) && attempt < PREVIOUS_HOST_ATTEMPTS; attempt++) {
        host = this.lb.pick(set, ctx, attempt);
      }
      // Random policies can keep drawing the same host; fall back to any untried one.
      if (host && previous.has(host)) host = set.hosts.find((h) => !previous.has(h)) ?? host;
    }
    return host;
  }

  private originalDstHost(ctx: LbContext): Host | null {
    const dst = ctx.originalDestination;
    if (!dst) return null;
    const probe = new HostImpl(dst.address, dst.port);
    let host = this.hostList.find((h) => h.key === probe.key);
    if (!host) {
      host = probe;
      host.tls = this.tlsFor({});
      this.hostList.push(host);
      this.invalidate();
    }
    host.used = true;
    return host;
  }

  /** ORIGINAL_DST: drop hosts not used since the previous sweep and with no connection left. */
  private cleanupOriginalDst(): void {
    const keep: HostImpl[] = [];
    for (const h of this.hostList) {
      if (h.used || h.stats.rq_active > 0 || h.stats.cx_active > 0) {
        h.used = false;
        keep.push(h);
      } else {
        this.removeHost(h);
      }
    }
    if (keep.length !== this.hostList.length) {
      this.hostList = keep;
      this.invalidate();
    }
  }

  private async refreshDns(): Promise<void> {
    const specs: EndpointSpec[] = [];
    try {
      for (const ep of this.parsed.endpoints) {
        const addresses = isIP(ep.address) ? [ep.address] : await this.deps.resolve(ep.address, this.parsed.dnsFamily);
        const chosen = this.type === "LOGICAL_DNS" ? addresses.slice(0, 1) : addresses;
        for (const address of chosen) specs.push({ ...ep, address, hostname: ep.hostname ?? ep.address });
      }
    } catch {
      // Keep the last good resolution, as Envoy does; a cluster never resolved stays warming.
      return;
    }
    if (this.closed) return;
    const same = specs.length === this.hostList.length && specs.every((s, i) => this.hostList[i].address === s.address && this.hostList[i].port === s.port);
    if (!same || this.warming) this.setEndpoints(specs);
  }

  private poolFor(host: HostImpl, protocol: "h1" | "h2"): ConnectionPool {
    let entry = this.pools.get(host);
    if (!entry) {
      entry = {};
      this.pools.set(host, entry);
    }
    if (protocol === "h2") return (entry.h2 ??= new Http2Pool(host, this));
    return (entry.h1 ??= new Http1Pool(host, this));
  }

  async httpRequest(h: Host, req: UpstreamHttpRequest): Promise<UpstreamHttpResult> {
    const host = h as HostImpl;
    const stats = this.stats;
    if (!this.breaker.canRequest()) {
      stats.upstream_rq_pending_overflow++;
      return { kind: "overflow", reason: "max_requests" };
    }
    this.breaker.requests++;
    stats.upstream_rq_active++;
    host.stats.rq_active++;
    let released = false;
    const done = () => {
      if (released) return;
      released = true;
      this.breaker.requests--;
      stats.upstream_rq_active--;
      stats.upstream_rq_completed++;
      host.stats.rq_active--;
      this.capacityFreed();
    };
    let protocol: "h1" | "h2" = this.parsed.protocol === "downstream" ? (req.downstreamProtocol ?? "h1") : this.parsed.protocol;
    if (req.upgrade) protocol = "h1";
    const result = await this.poolFor(host, protocol).request(req, done);
    switch (result.kind) {
      case "overflow":
        // Not a request that reached the upstream: keep upstream_rq_total/completed honest.
        stats.upstream_rq_completed--;
        return result;
      case "response":
      case "upgrade":
        stats.upstream_rq_total++;
        host.stats.rq_total++;
        this.countStatus(host, result.status);
        this.outlier?.record(host, { status: result.status });
        return result;
      case "failure":
        stats.upstream_rq_total++;
        host.stats.rq_total++;
        if (result.failure !== "aborted") {
          host.stats.rq_error++;
          this.outlier?.record(host, { localFailure: result.failure === "connect" ? "connect" : "reset" });
        }
        return result;
    }
  }

  private countStatus(host: HostImpl, status: number): void {
    const s = this.stats;
    if (status < 200) s.upstream_rq_1xx++;
    else if (status < 300) s.upstream_rq_2xx++;
    else if (status < 400) s.upstream_rq_3xx++;
    else if (status < 500) s.upstream_rq_4xx++;
    else s.upstream_rq_5xx++;
    if (status >= 500) host.stats.rq_error++;
    else host.stats.rq_success++;
  }

  acquireRetry(): (() => void) | null {
    if (!this.breaker.canRetry()) {
      this.stats.upstream_rq_retry_overflow++;
      return null;
    }
    this.breaker.retries++;
    this.stats.upstream_rq_retry++;
    let released = false;
    return () => {
      if (!released) {
        released = true;
        this.breaker.retries--;
      }
    };
  }

  reportOutcome(h: Host, outcome: RequestOutcome): void {
    const host = h as HostImpl;
    if ("localFailure" in outcome && outcome.localFailure === "timeout") host.stats.rq_timeout++;
    this.outlier?.record(host, outcome);
  }

  capacityFreed(): void {
    if (this.closed) return;
    for (const entry of this.pools.values()) {
      entry.h1?.drainQueue();
      entry.h2?.drainQueue();
    }
  }

  /** Stop timers and close pools (idle connections now, busy ones after their requests unless `force`). */
  close(force = false): void {
    this.closed = true;
    for (const t of this.timers) this.deps.clearInterval(t);
    for (const entry of this.pools.values()) {
      entry.h1?.close(force);
      entry.h2?.close(force);
    }
    this.pools.clear();
  }

  dump(): ClusterDump {
    return {
      name: this.name,
      config: this.config,
      loadAssignment: this.loadAssignment,
      warming: this.warming,
      lastUpdated: this.lastUpdated,
      stats: this.stats,
      circuitBreakers: { ...this.breaker.thresholds },
      hosts: this.hostList.map((h) => ({
        address: h.address, port: h.port, weight: h.weight, locality: h.locality, priority: h.priority,
        hostname: h.hostname, healthStatus: h.healthStatus, healthFlags: h.healthFlags(), stats: { ...h.stats },
      })),
    };
  }
}

function makeLoadBalancer(parsed: ParsedCluster, random: () => number): LoadBalancer | undefined {
  switch (parsed.lbPolicy) {
    case "ROUND_ROBIN":
      return new RoundRobinLb();
    case "LEAST_REQUEST":
      return new LeastRequestLb(random, parsed.choiceCount, parsed.activeRequestBias);
    case "RANDOM":
      return new RandomLb(random);
    case "RING_HASH":
      return new RingHashLb(random, parsed.ringMin, parsed.ringMax);
    case "MAGLEV":
      return new MaglevLb(random, parsed.maglevTableSize);
    case "CLUSTER_PROVIDED":
      return undefined;
  }
}
