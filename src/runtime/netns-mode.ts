// netns mode's I/O edge for `skiff up --netns`: wires the netns library (bridge and
// namespaces, capture rules, VIP rules for sidecar-less namespaces, DNS proxy, proxy
// user) into the runtime. One instance per mesh:
//   - a bridge and, per replica, a namespace with its own address;
//   - one DNS proxy on the bridge address, port 53: every namespace's resolv.conf names
//     it; it answers mesh names with the registry's VIPs (240.240/16) and forwards the
//     rest to the host's resolvers. Sidecar namespaces therefore capture TCP only
//     (dnsPort: false), and DNS needs no process per replica;
//   - a TCP relay on the bridge address to the control plane, which keeps listening on
//     127.0.0.1 only (the gateway, `skiff status` and the tests reach it there) while
//     sidecars inside namespaces reach it through the bridge;
//   - the registry followed: DNS table and sidecar-less namespaces' VIP rules follow it.
import { execFileSync } from "node:child_process";
import { chmodSync, chownSync, lstatSync, mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { createServer, connect, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import type { ConfigStore } from "../config/index.ts";
import { Registry, endpointKey, type RegistrySnapshot } from "../registry/index.ts";
import { AGENT_ENV, DnsProxy, agentEnvironment, applyCapture, applyServiceRules, type DnsService, type ServiceVip } from "../agent/index.ts";
import { NetnsNetwork, cleanupNetns, ensureProxyUser, netnsSupport, type ProxyUser, type ReplicaNetwork } from "./netns/index.ts";
import { netnsSidecarBootstrap } from "./netns-mode-plan.ts";
import type { ReplicaPlan } from "./plan.ts";
import type { ReplicaPlacement } from "./replica.ts";

/** Environment variables that pick another tag and subnet (two meshes, or tests beside a user's mesh). */
export const NETNS_TAG_ENV = "SKIFF_NETNS_TAG";
export const NETNS_SUBNET_ENV = "SKIFF_NETNS_SUBNET";
const DEFAULT_NETNS_TAG = "skiff";

/**
 * The name sidecars reach the control plane's CA by, as Istio's do: the bridge DNS
 * proxy answers it with the bridge address, and it is among the names in the control
 * plane's TLS certificate (a bare bridge IP is not), so the agent's TLS check passes.
 */
const CONTROL_PLANE_SERVICE: Omit<DnsService, "addresses"> = { hostname: "istiod.istio-system.svc.cluster.local", name: "istiod", namespace: "istio-system" };
const CONTROL_PLANE_HOST = "istiod.istio-system.svc";

export interface NetnsModeOptions {
  runDir: string;
  store: ConfigStore;
  domain?: string;
  /** Name prefix of everything created (default `skiff`, or $SKIFF_NETNS_TAG). */
  tag?: string;
  /** The replicas' subnet (default 198.18.0.0/24, or $SKIFF_NETNS_SUBNET). */
  subnet?: string;
  log?: (line: string) => void;
}

export class NetnsModeError extends Error {}

export class NetnsMode {
  readonly net: NetnsNetwork;
  readonly #opts: NetnsModeOptions;
  readonly #user: ProxyUser;
  readonly #registry: Registry;
  readonly #unsubscribe: () => void;
  readonly #dns: DnsProxy;
  readonly #bootstrapDir: string;
  /** Namespaces of sidecar-less replicas: they get the VIP rules, re-applied on registry changes. */
  readonly #plain = new Set<string>();
  readonly #relays: Server[] = [];
  readonly #relayed = new Set<Socket>();
  #relayPort = 0;
  #caRelayPort = 0;
  #rules: Promise<void> = Promise.resolve();

  private constructor(opts: NetnsModeOptions, net: NetnsNetwork, user: ProxyUser, dns: DnsProxy, bootstrapDir: string) {
    this.#opts = opts;
    this.net = net;
    this.#user = user;
    this.#dns = dns;
    this.#bootstrapDir = bootstrapDir;
    this.#registry = new Registry(opts.store, { domain: opts.domain });
    this.#unsubscribe = this.#registry.onChange((snapshot) => this.#follow(snapshot));
    this.#follow(this.#registry.snapshot());
  }

  /**
   * Checks the machine (root, Linux, ip/iptables/setpriv), sweeps what a crashed mesh of
   * the same tag left, creates the bridge, the proxy user and the DNS proxy.
   */
  static async start(opts: NetnsModeOptions): Promise<NetnsMode> {
    const support = await netnsSupport();
    if (!support.ok) throw new NetnsModeError(`${support.reason}; run without --netns for process mode`);
    const tag = opts.tag ?? process.env[NETNS_TAG_ENV] ?? DEFAULT_NETNS_TAG;
    const subnet = opts.subnet ?? process.env[NETNS_SUBNET_ENV];
    // The run directory admits one mesh at a time, so anything with this tag is a crashed run's.
    await cleanupNetns(tag);
    sweepBootstrapDirs(tag);
    const net = await NetnsNetwork.create({ tag, ...(subnet ? { subnet, serviceSubnet: nextSubnet(subnet) } : {}), stateFile: join(opts.runDir, "netns.json") });
    let dns: DnsProxy | undefined;
    try {
      const user = await ensureProxyUser();
      dns = await DnsProxy.start({ host: net.gateway, port: 53, namespace: "default", domain: opts.domain });
      // The sidecars run as the proxy user, who cannot read a run directory under
      // /run/user/0 or a 0700 temp dir: their bootstraps go to a world-readable directory.
      const bootstrapDir = mkdtempSync(join(sharedTempDir(), `${tag}-netns-bootstrap-`));
      chmodSync(bootstrapDir, 0o755);
      return new NetnsMode(opts, net, user, dns, bootstrapDir);
    } catch (err) {
      await dns?.close();
      await net.teardown();
      throw err;
    }
  }

  /** The bridge address sidecars reach the control plane at (after relayXds). */
  get xdsAddress(): string {
    return `${this.net.gateway}:${this.#relayPort}`;
  }

  /**
   * Relays the bridge address to the control plane's ports on 127.0.0.1: plaintext xDS,
   * and the TLS port (xDS and the CA, Istio's 15012) when it has one.
   */
  async relayControlPlane(ports: { xds: number; xdsTls?: number }): Promise<void> {
    this.#relayPort = await this.relay(ports.xds);
    if (ports.xdsTls !== undefined) this.#caRelayPort = await this.relay(ports.xdsTls);
  }

  /**
   * The sidecar agent's environment for mesh mTLS: the CA by its Istio name through the
   * relay, the root and the token as files the proxy user can read (agentEnvironment
   * writes them for root).
   */
  async agentEnv(name: string, rootsPem: string, token: string): Promise<Record<string, string> | undefined> {
    if (!this.#caRelayPort) return undefined;
    const dir = join(this.#bootstrapDir, "identity");
    const env = await agentEnvironment({ dir, name, caAddress: `${CONTROL_PLANE_HOST}:${this.#caRelayPort}`, rootsPem, token });
    chownSync(dir, this.#user.uid, this.#user.gid);
    chownSync(env[AGENT_ENV.tokenFile], this.#user.uid, this.#user.gid);
    // The agent's SDS socket goes beside its identity files, in a directory the proxy user
    // owns: left to itself it would use $TMPDIR, which the proxy user may not be able to write.
    return { ...env, [AGENT_ENV.sdsSocket]: join(dir, `${name}.sds.sock`) };
  }

  /** Relays a port of 127.0.0.1 (the control plane's, the trace store's) to the bridge address; returns the bridge-side port. */
  async relay(port: number): Promise<number> {
    const server = createServer((client) => {
      const upstream = connect({ host: "127.0.0.1", port });
      for (const s of [client, upstream]) {
        this.#relayed.add(s);
        s.on("close", () => this.#relayed.delete(s));
        s.on("error", () => {
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, this.net.gateway, () => resolve());
    });
    this.#relays.push(server);
    const address = server.address();
    return typeof address === "object" && address ? address.port : 0;
  }

  /** A namespace for the replica; capture rules with a sidecar, VIP rules without. */
  async addReplica(plan: ReplicaPlan, sidecar: boolean): Promise<ReplicaNetwork> {
    const r = await this.net.addReplica(netnsKey(plan.name, plan.namespace), { meshNamespace: plan.namespace, domain: this.#opts.domain });
    try {
      if (sidecar) {
        // DNS is not captured: resolv.conf names the bridge's DNS proxy, reached directly.
        // The runtime's probes (from probeSource) reach the app directly, as kubelet's do
        // through Istio's probe rewrite: STRICT or an ALLOW policy must not fail them.
        // They land on 127.0.0.1, where the sidecar reaches the app: an app listening on
        // loopback only is served through its sidecar, so it must be ready too.
        await applyCapture(r.namespace, { proxyUid: this.#user.uid, proxyGid: this.#user.gid, dnsPort: false, appProbeSources: [this.net.probeSource] });
      } else {
        this.#plain.add(r.namespace);
        await applyServiceRules(r.namespace, this.#serviceVips(this.#registry.snapshot()));
      }
    } catch (err) {
      this.#plain.delete(r.namespace);
      await this.net.removeReplica(netnsKey(plan.name, plan.namespace));
      throw err;
    }
    return r;
  }

  async removeReplica(name: string, namespace: string): Promise<void> {
    const r = this.net.replica(netnsKey(name, namespace));
    if (!r) return;
    this.#plain.delete(r.namespace);
    await this.net.removeReplica(r.replica);
  }

  /** How the replica's processes run: in its namespace, the sidecar as the proxy user. */
  placement(r: ReplicaNetwork): ReplicaPlacement {
    return {
      host: r.address,
      probeSource: this.net.probeSource,
      wrap: (argv, asProxy) => {
        const { file, args } = this.net.commandIn(r.namespace, argv, asProxy ? this.#user : undefined);
        return { command: file, args };
      },
      bootstrap: (plan) => netnsSidecarBootstrap(plan, this.xdsAddress, this.#opts.domain),
      bootstrapDir: this.#bootstrapDir,
    };
  }

  /** After every process has stopped: the DNS proxy, the relay, then namespaces, veths, rules and bridge. */
  async stop(): Promise<void> {
    this.#unsubscribe();
    this.#registry.close();
    await this.#rules;
    for (const s of this.#relayed) s.destroy();
    await Promise.all(this.#relays.map((relay) => new Promise<void>((r) => relay.close(() => r()))));
    await this.#dns.close();
    await this.net.teardown();
    rmSync(this.#bootstrapDir, { recursive: true, force: true });
  }

  /**
   * Last resort from the process's exit hook (which cannot wait): removes what was
   * created, newest first, with synchronous commands. Errors are ignored: whatever
   * survives is swept by the next `skiff up --netns`.
   */
  removeNow(): void {
    const quiet = (file: string, args: string[]): void => {
      try {
        execFileSync(file, args, { stdio: "ignore", timeout: 10_000 });
      } catch {
        // already gone, or left for the next start's sweep
      }
    };
    for (const r of this.net.created().reverse()) {
      if (r.kind === "namespace") quiet("ip", ["netns", "del", r.name]);
      else if (r.kind === "link" || r.kind === "bridge") quiet("ip", ["link", "del", r.name]);
      else if (r.kind === "netns-etc") rmSync(join("/etc/netns", r.name), { recursive: true, force: true });
      else if (r.kind === "forward-guard") {
        quiet("iptables", ["-w", "5", "-D", "FORWARD", "-j", r.name]);
        quiet("iptables", ["-w", "5", "-F", r.name]);
        quiet("iptables", ["-w", "5", "-X", r.name]);
      }
    }
    rmSync(this.#bootstrapDir, { recursive: true, force: true });
  }

  #follow(snapshot: RegistrySnapshot): void {
    const services = snapshot.services.map((s): DnsService => ({ hostname: s.hostname, name: s.name, namespace: s.namespace, addresses: s.addresses }));
    this.#dns.setServices([...services, { ...CONTROL_PLANE_SERVICE, addresses: [this.net.gateway] }]);
    if (this.#plain.size === 0) return;
    const vips = this.#serviceVips(snapshot);
    // Serialised: an older table must never land after a newer one.
    this.#rules = this.#rules.then(async () => {
      for (const ns of [...this.#plain]) {
        await applyServiceRules(ns, vips).catch((err: Error) => {
          if (this.#plain.has(ns)) this.#opts.log?.(`runtime: ${err.message}`);
        });
      }
    });
  }

  /** kube-proxy's table: every IPv4 VIP:port to its healthy endpoints. */
  #serviceVips(snapshot: RegistrySnapshot): ServiceVip[] {
    const out: ServiceVip[] = [];
    for (const s of snapshot.services) {
      for (const vip of s.addresses.filter((a) => /^\d+\.\d+\.\d+\.\d+$/.test(a))) {
        for (const p of s.ports) {
          if (p.protocol === "UDP") continue;
          const endpoints = (snapshot.endpoints.get(endpointKey(s.hostname, p.port)) ?? []).filter((e) => e.healthy).map((e) => ({ address: e.address, port: e.port }));
          out.push({ hostname: s.hostname, vip, port: p.port, endpoints });
        }
      }
    }
    return out;
  }
}

/**
 * The temp dir when every directory on its path lets other users through (so the proxy
 * user can reach a 0755 directory inside it), else /tmp. WHY: $TMPDIR is often private
 * (mktemp -d makes it 0700), and then every sidecar failed with EACCES on its bootstrap.
 */
export function sharedTempDir(temp = tmpdir()): string {
  for (let dir = resolve(temp); ; dir = dirname(dir)) {
    const st = statSync(dir, { throwIfNoEntry: false });
    if (!st || (st.mode & 0o001) === 0) return "/tmp";
    if (dir === dirname(dir)) return temp;
  }
}

/** Bootstrap directories a crashed mesh of this tag left in the temp dir (real directories of ours only, never a symlink). */
function sweepBootstrapDirs(tag: string): void {
  const prefix = `${tag}-netns-bootstrap-`;
  const parent = sharedTempDir();
  for (const name of readdirSync(parent)) {
    if (!name.startsWith(prefix)) continue;
    const path = join(parent, name);
    const st = lstatSync(path, { throwIfNoEntry: false });
    if (st?.isDirectory() && st.uid === process.getuid?.()) rmSync(path, { recursive: true, force: true });
  }
}

/**
 * The network's name for a replica: `<replica>.<mesh namespace>` (network namespace
 * `skiff-sa-logic-0.demo`), so replicas of same-named workloads in two mesh namespaces
 * never share one.
 */
export function netnsKey(replica: string, namespace: string): string {
  return `${replica}.${namespace}`;
}

/** With a custom replica subnet, the VIP pool (unused: VIPs come from the registry) takes the next block of the same size. */
function nextSubnet(subnet: string): string {
  const m = /^(\d+)\.(\d+)\.(\d+)\.(\d+)\/(\d+)$/.exec(subnet);
  if (!m) return subnet;
  const prefix = Number(m[5]);
  const base = ((Number(m[1]) << 24) | (Number(m[2]) << 16) | (Number(m[3]) << 8) | Number(m[4])) >>> 0;
  const next = (base + 2 ** (32 - prefix)) >>> 0;
  return `${next >>> 24}.${(next >>> 16) & 0xff}.${(next >>> 8) & 0xff}.${next & 0xff}/${prefix}`;
}
