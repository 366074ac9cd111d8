// The network of netns mode: a bridge on the host with the first address of the
// subnet, and per replica a network namespace wired to it by a veth pair, with its own
// address, loopback up and a default route via the bridge — what a pod has.
//
// Everything created is recorded (in memory and, when given, in a state file written
// after every change) and teardown removes it in reverse. Teardown then also sweeps by
// name prefix, so the leftovers of a crashed run are removed too (`cleanupNetns`).
//
// Safety: the host keeps replicas' traffic to itself. A host iptables chain drops any
// packet the host would forward between the bridge and another interface, so even on a
// machine with ip_forward on, nothing from a replica leaves the machine.
import { mkdir, readdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { AddressPool, DEFAULT_SERVICE_SUBNET, DEFAULT_SUBNET, VipPool, parseSubnet, subnetsOverlap, AddressingError, type Subnet } from "./addressing.ts";
import { run as realRun, type Runner } from "./exec.ts";
import { bridgeName, checkTag, DEFAULT_TAG, forwardChainName, hostVethName, hostVethPrefix, namespaceName, namespacePrefix, peerVethName } from "./names.ts";

export interface NetnsOptions {
  /** Prefix of every name created (namespaces `<tag>-<replica>`, bridge `<tag>0`). */
  tag?: string;
  /** The replicas' subnet; the bridge takes its first address. */
  subnet?: string;
  /** Where service VIPs come from; must not overlap `subnet`. */
  serviceSubnet?: string;
  /** A JSON file listing what exists, rewritten after each change. */
  stateFile?: string;
  /** Where `ip netns exec` looks for per-namespace files (resolv.conf). Tests never change it. */
  netnsEtc?: string;
  /** Runs a command; tests of the plumbing logic can record instead of executing. */
  runner?: Runner;
}

export interface ReplicaNetwork {
  replica: string;
  /** The network namespace, e.g. `skiff-sa-logic-v1-0`. */
  namespace: string;
  /** The replica's address (on eth0 inside the namespace). */
  address: string;
  /** The bridge's address: the replica's default gateway, and how it reaches the host. */
  gateway: string;
  prefix: number;
  hostVeth: string;
}

export interface ReplicaDns {
  /** The workload's namespace, for the search list (`<ns>.svc.<domain> svc.<domain> <domain>`). */
  meshNamespace?: string;
  domain?: string;
  /** The nameserver the replica's resolver asks; the bridge address by default. */
  nameserver?: string;
}

/** One thing created, in the order created. */
export interface NetnsRecord {
  kind: "bridge" | "forward-guard" | "namespace" | "link" | "netns-etc";
  name: string;
}

export class NetnsNetwork {
  readonly tag: string;
  readonly subnet: Subnet;
  readonly serviceSubnet: Subnet;
  private readonly addresses: AddressPool;
  private readonly vips: VipPool;
  private readonly run: Runner;
  private readonly records: NetnsRecord[] = [];
  private readonly replicas = new Map<string, ReplicaNetwork>();
  private readonly etc: string;

  private constructor(private readonly options: NetnsOptions) {
    this.tag = checkTag(options.tag ?? DEFAULT_TAG);
    this.subnet = parseSubnet(options.subnet ?? DEFAULT_SUBNET, "subnet");
    this.serviceSubnet = parseSubnet(options.serviceSubnet ?? DEFAULT_SERVICE_SUBNET, "serviceSubnet");
    if (subnetsOverlap(this.subnet, this.serviceSubnet)) {
      throw new AddressingError(`netns: subnet ${this.subnet.text} and serviceSubnet ${this.serviceSubnet.text} overlap; give them separate ranges`);
    }
    this.addresses = new AddressPool(this.subnet);
    this.vips = new VipPool(this.serviceSubnet);
    this.run = options.runner ?? realRun;
    this.etc = options.netnsEtc ?? "/etc/netns";
  }

  /**
   * Creates the bridge and the forwarding guard. Fails with a clear message if the
   * bridge already exists (another mesh, or a crashed one: `cleanupNetns(tag)`).
   */
  static async create(options: NetnsOptions = {}): Promise<NetnsNetwork> {
    const net = new NetnsNetwork(options);
    try {
      await net.createBridge();
    } catch (err) {
      // Half a bridge is worse than none: remove what this call made, keep the error.
      for (const r of [...net.records].reverse()) await removeRecord(net.run, r, net.etc);
      throw err;
    }
    return net;
  }

  get bridge(): string {
    return bridgeName(this.tag);
  }

  /** The bridge's address: replicas reach the host (control plane, DNS) here. */
  get gateway(): string {
    return this.addresses.gateway;
  }

  /**
   * The bridge's second address (/32, so routes keep choosing the first as source), which
   * only the runtime's readiness probes use: capture lets it through to the app (see
   * AddressPool.probeSource).
   */
  get probeSource(): string {
    return this.addresses.probeSource;
  }

  /** What was created, oldest first (a copy). */
  created(): NetnsRecord[] {
    return this.records.map((r) => ({ ...r }));
  }

  /** The service VIP of a service host (stable while the network lives). */
  vip(hostname: string): string {
    return this.vips.vip(hostname);
  }

  replica(name: string): ReplicaNetwork | undefined {
    return this.replicas.get(name);
  }

  /** Gives a replica its namespace, veth, address and default route. */
  async addReplica(replica: string, dns: ReplicaDns = {}): Promise<ReplicaNetwork> {
    const existing = this.replicas.get(replica);
    if (existing) return existing;
    const ns = namespaceName(this.tag, replica);
    const hostVeth = hostVethName(this.tag, replica);
    const peer = peerVethName(this.tag, replica);
    const address = this.addresses.take(replica);
    const net: ReplicaNetwork = { replica, namespace: ns, address, gateway: this.gateway, prefix: this.subnet.prefix, hostVeth };
    try {
      await this.run("ip", ["netns", "add", ns]);
      await this.record({ kind: "namespace", name: ns });
      await this.run("ip", ["link", "add", hostVeth, "type", "veth", "peer", "name", peer, "netns", ns]);
      await this.record({ kind: "link", name: hostVeth });
      await this.run("ip", ["link", "set", hostVeth, "master", this.bridge]);
      await this.run("ip", ["link", "set", hostVeth, "up"]);
      await this.run("ip", ["-n", ns, "link", "set", peer, "name", "eth0"]);
      await this.run("ip", ["-n", ns, "addr", "add", `${address}/${this.subnet.prefix}`, "dev", "eth0"]);
      await this.run("ip", ["-n", ns, "link", "set", "eth0", "up"]);
      await this.run("ip", ["-n", ns, "link", "set", "lo", "up"]);
      await this.run("ip", ["-n", ns, "route", "add", "default", "via", this.gateway]);
      await this.writeResolvConf(ns, dns);
    } catch (err) {
      await this.removeReplicaObjects(ns, hostVeth);
      this.addresses.release(replica);
      throw err;
    }
    this.replicas.set(replica, net);
    return net;
  }

  async removeReplica(replica: string): Promise<void> {
    const net = this.replicas.get(replica);
    if (!net) return;
    await this.removeReplicaObjects(net.namespace, net.hostVeth);
    this.replicas.delete(replica);
    this.addresses.release(replica);
  }

  /**
   * The command line that runs `argv` inside a replica's namespace, optionally as
   * another user (the proxy's uid, which capture exempts). `ip netns exec` also
   * bind-mounts the namespace's resolv.conf over /etc/resolv.conf.
   */
  commandIn(namespace: string, argv: readonly string[], user?: { uid: number; gid: number }): { file: string; args: string[] } {
    const drop = user ? ["setpriv", `--reuid=${user.uid}`, `--regid=${user.gid}`, "--clear-groups", "--"] : [];
    return { file: "ip", args: ["netns", "exec", namespace, ...drop, ...argv] };
  }

  /** Removes everything created, newest first, then sweeps the tag's leftovers. */
  async teardown(): Promise<void> {
    for (const r of [...this.records].reverse()) await removeRecord(this.run, r, this.etc);
    this.records.length = 0;
    this.replicas.clear();
    await this.saveState();
    await cleanupNetns(this.tag, { runner: this.run, netnsEtc: this.etc });
  }

  private async createBridge(): Promise<void> {
    const br = this.bridge;
    const links = await listLinks(this.run);
    if (links.includes(br)) {
      throw new Error(`netns: bridge ${br} already exists: another mesh with tag "${this.tag}" is running, or one crashed. If none is running, remove its leftovers (cleanupNetns("${this.tag}"), or: ip link del ${br})`);
    }
    await this.run("ip", ["link", "add", br, "type", "bridge"]);
    await this.record({ kind: "bridge", name: br });
    await this.run("ip", ["addr", "add", `${this.gateway}/${this.subnet.prefix}`, "dev", br]);
    await this.run("ip", ["addr", "add", `${this.probeSource}/32`, "dev", br]);
    await this.run("ip", ["link", "set", br, "up"]);
    const chain = forwardChainName(this.tag);
    await this.run("iptables", ["-w", "5", "-N", chain]);
    await this.record({ kind: "forward-guard", name: chain });
    await this.run("iptables", ["-w", "5", "-A", chain, "-i", br, "!", "-o", br, "-j", "DROP"]);
    await this.run("iptables", ["-w", "5", "-A", chain, "-o", br, "!", "-i", br, "-j", "DROP"]);
    await this.run("iptables", ["-w", "5", "-I", "FORWARD", "1", "-j", chain]);
  }

  private async writeResolvConf(ns: string, dns: ReplicaDns): Promise<void> {
    const domain = dns.domain ?? "cluster.local";
    const search = dns.meshNamespace ? [`${dns.meshNamespace}.svc.${domain}`, `svc.${domain}`, domain] : [];
    const lines = [`nameserver ${dns.nameserver ?? this.gateway}`, ...(search.length ? [`search ${search.join(" ")}`, "options ndots:5"] : [])];
    const dir = join(this.etc, ns);
    await mkdir(dir, { recursive: true });
    await this.record({ kind: "netns-etc", name: ns });
    await writeFile(join(dir, "resolv.conf"), lines.join("\n") + "\n");
  }

  private async removeReplicaObjects(ns: string, hostVeth: string): Promise<void> {
    for (const r of [...this.records].reverse()) {
      if ((r.kind === "namespace" || r.kind === "netns-etc") && r.name === ns) await removeRecord(this.run, r, this.etc);
      if (r.kind === "link" && r.name === hostVeth) await removeRecord(this.run, r, this.etc);
    }
    const keep = this.records.filter((r) => !(r.name === ns || r.name === hostVeth));
    this.records.splice(0, this.records.length, ...keep);
    await this.saveState();
  }

  private async record(r: NetnsRecord): Promise<void> {
    this.records.push(r);
    await this.saveState();
  }

  private async saveState(): Promise<void> {
    if (!this.options.stateFile) return;
    await writeFile(this.options.stateFile, JSON.stringify({ tag: this.tag, created: this.records }, null, 2) + "\n");
  }
}

async function removeRecord(run: Runner, r: NetnsRecord, etc: string): Promise<void> {
  const quiet = async (file: string, args: string[]): Promise<void> => {
    try {
      await run(file, args);
    } catch {
      // Already gone (deleting a namespace takes its veth end and rules with it).
    }
  };
  switch (r.kind) {
    case "namespace":
      return quiet("ip", ["netns", "del", r.name]);
    case "link":
    case "bridge":
      return quiet("ip", ["link", "del", r.name]);
    case "netns-etc":
      await rm(join(etc, r.name), { recursive: true, force: true });
      return;
    case "forward-guard":
      // Bounded: the jump is inserted once per create, but a crashed run may have left more.
      for (let i = 0; i < 8; i++) {
        try {
          await run("iptables", ["-w", "5", "-D", "FORWARD", "-j", r.name]);
        } catch {
          break;
        }
      }
      await quiet("iptables", ["-w", "5", "-F", r.name]);
      await quiet("iptables", ["-w", "5", "-X", r.name]);
      return;
  }
}

/** What exists with this tag's names: for teardown, `skiff status`, and tests. */
export interface NetnsLeftovers {
  namespaces: string[];
  links: string[];
  iptablesChains: string[];
  etcDirs: string[];
}

export async function listNetns(tag: string, options: { runner?: Runner; netnsEtc?: string } = {}): Promise<NetnsLeftovers> {
  checkTag(tag);
  const run = options.runner ?? realRun;
  const etc = options.netnsEtc ?? "/etc/netns";
  const nsPrefix = namespacePrefix(tag);
  const namespaces = (await run("ip", ["netns", "list"]))
    .split("\n")
    .map((l) => l.trim().split(/\s+/)[0] ?? "")
    .filter((n) => n.startsWith(nsPrefix));
  const links = (await listLinks(run)).filter((l) => l === bridgeName(tag) || l.startsWith(hostVethPrefix(tag)));
  const chain = forwardChainName(tag);
  const iptablesChains = (await run("iptables", ["-w", "5", "-S"])).split("\n").some((l) => l.split(/\s+/).includes(chain)) ? [chain] : [];
  const etcDirs = (await readdir(etc).catch(() => [] as string[])).filter((d) => d.startsWith(nsPrefix));
  return { namespaces: namespaces.sort(), links: links.sort(), iptablesChains, etcDirs: etcDirs.sort() };
}

/** Removes every namespace, link, iptables chain and netns file of this tag (crash cleanup). */
export async function cleanupNetns(tag: string, options: { runner?: Runner; netnsEtc?: string } = {}): Promise<void> {
  const run = options.runner ?? realRun;
  const etc = options.netnsEtc ?? "/etc/netns";
  const found = await listNetns(tag, { runner: run, netnsEtc: etc });
  for (const ns of found.namespaces) await removeRecord(run, { kind: "namespace", name: ns }, etc);
  for (const d of found.etcDirs) await removeRecord(run, { kind: "netns-etc", name: d }, etc);
  // Host veth ends normally vanish with their namespace; the bridge goes last.
  for (const l of found.links.filter((l) => l !== bridgeName(tag))) await removeRecord(run, { kind: "link", name: l }, etc);
  if (found.links.includes(bridgeName(tag))) await removeRecord(run, { kind: "bridge", name: bridgeName(tag) }, etc);
  for (const c of found.iptablesChains) await removeRecord(run, { kind: "forward-guard", name: c }, etc);
}

/** Interface names from `ip -o link show` (`3: skiffh1a2b3c4d@if2: <...>`). */
async function listLinks(run: Runner): Promise<string[]> {
  const out = await run("ip", ["-o", "link", "show"]);
  return out
    .split("\n")
    .map((l) => /^\d+:\s+([^:@\s]+)/.exec(l)?.[1])
    .filter((n): n is string => n !== undefined);
}
