// The agent's DNS proxy (Istio's port 15053): answers A queries for mesh service names
// with the services' VIPs, so an app in netns mode can say `http://sa-logic:8080` and
// connect to a VIP that its sidecar recognises. Everything else is forwarded, untouched,
// to the upstream resolvers (from /etc/resolv.conf unless given).
//
// Names answered for a Kubernetes-style service `name.ns.svc.<domain>`: the FQDN,
// `name.ns.svc`, `name.ns`, and `name` alone when ns is the workload's own namespace —
// the names a pod's resolver would try. ServiceEntry hosts answer by their host.
// AAAA (and other types) for a mesh name get an empty answer (the VIPs are IPv4), and
// an unknown name under `<domain>` gets NXDOMAIN at once: this proxy is the authority
// for the mesh's domain, and forwarding resolv.conf search expansions
// (`x.ns.ns.svc.cluster.local`) upstream would only add a timeout per lookup.
//
// The wire format is dns-packet's; UDP and TCP (length-prefixed) are both served.
import { createSocket, type Socket as UdpSocket } from "node:dgram";
import { readFile, rename, writeFile } from "node:fs/promises";
import { unwatchFile, watchFile, type Stats } from "node:fs";
import { createServer, isIPv4, type Server, type Socket } from "node:net";
import dnsPacket from "dns-packet";
import type { Answer, DecodedPacket, Packet, Question } from "dns-packet";

export const DNS_PROXY_PORT = 15053;

/** What the proxy needs of a service: a subset of the registry's MeshService. */
export interface DnsService {
  hostname: string;
  name: string;
  namespace: string;
  addresses: readonly string[];
}

export interface DnsUpstream {
  address: string;
  port: number;
}

export interface DnsProxyOptions {
  /** Where to listen; 127.0.0.1 (inside the replica's namespace) by default. */
  host?: string;
  /** 15053 by default; 0 picks a free port (tests). */
  port?: number;
  /** The workload's namespace: short names resolve in it. */
  namespace: string;
  /** The mesh's DNS domain, `cluster.local` by default. */
  domain?: string;
  services?: readonly DnsService[];
  /**
   * A JSON file `{ "services": DnsService[] }` to read the table from, and re-read when
   * it changes (written with writeDnsTable). The file system is shared across network
   * namespaces, so this is how a DNS proxy inside a replica's namespace follows the
   * registry of a runtime on the host.
   */
  servicesFile?: string;
  /** Resolvers for other names; read from `resolvConf` when absent. */
  upstreams?: readonly DnsUpstream[];
  resolvConf?: string;
  /** How long a forwarded query may take per upstream. */
  upstreamTimeoutMs?: number;
  ttlSeconds?: number;
}

const RCODE_SERVFAIL = 2;
const RCODE_NXDOMAIN = 3;

/** Mesh name → IPv4 VIPs. Names are lowercase without the trailing dot. Pure. */
export function dnsNameTable(services: readonly DnsService[], namespace: string, domain = "cluster.local"): Map<string, string[]> {
  const table = new Map<string, string[]>();
  const add = (name: string, addresses: string[]): void => {
    const key = normaliseName(name);
    const have = table.get(key);
    // Two services behind one name (a Service and a ServiceEntry): the first keeps it,
    // services are given sorted, so the answer is deterministic.
    if (!have) table.set(key, addresses);
  };
  for (const s of services) {
    const v4 = s.addresses.filter((a) => isIPv4(a));
    if (v4.length === 0) continue;
    add(s.hostname, v4);
    const suffix = `.${s.namespace}.svc.${domain}`;
    if (normaliseName(s.hostname).endsWith(suffix.toLowerCase())) {
      add(`${s.name}.${s.namespace}.svc`, v4);
      add(`${s.name}.${s.namespace}`, v4);
      if (s.namespace === namespace) add(s.name, v4);
    }
  }
  return table;
}

/** Writes a table for `servicesFile` atomically (a reader never sees half a file). */
export async function writeDnsTable(file: string, services: readonly DnsService[]): Promise<void> {
  const slim = services.map((s) => ({ hostname: s.hostname, name: s.name, namespace: s.namespace, addresses: [...s.addresses] }));
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify({ services: slim }, null, 2) + "\n", { mode: 0o644 });
  await rename(tmp, file);
}

/** The services of a table file; a clear error names the file and what is wrong. */
export async function readDnsTable(file: string): Promise<DnsService[]> {
  let doc: unknown;
  try {
    doc = JSON.parse(await readFile(file, "utf8"));
  } catch (err) {
    throw new Error(`DNS table ${file}: ${(err as Error).message}`);
  }
  const list = (doc as { services?: unknown }).services;
  if (!Array.isArray(list)) throw new Error(`DNS table ${file}: expected {"services": [...]}`);
  return list.map((s: unknown, i) => {
    const o = s as Partial<DnsService>;
    if (typeof o.hostname !== "string" || typeof o.name !== "string" || typeof o.namespace !== "string" || !Array.isArray(o.addresses)) {
      throw new Error(`DNS table ${file}: services[${i}] needs hostname, name, namespace (strings) and addresses (a list)`);
    }
    return { hostname: o.hostname, name: o.name, namespace: o.namespace, addresses: o.addresses.map(String) };
  });
}

/** Nameservers of a resolv.conf text (port 53). Pure. */
export function parseResolvConf(text: string): DnsUpstream[] {
  const out: DnsUpstream[] = [];
  for (const line of text.split("\n")) {
    const m = /^\s*nameserver\s+(\S+)/.exec(line);
    if (m && isIPv4(m[1]!)) out.push({ address: m[1]!, port: 53 });
  }
  return out;
}

function normaliseName(name: string): string {
  return name.toLowerCase().replace(/\.$/, "");
}

/**
 * What to answer for one query: an answer packet, or "forward" when the name is not
 * the mesh's. Pure (the table and the domain are all it knows).
 */
export function answerQuery(query: DecodedPacket, table: ReadonlyMap<string, string[]>, domain: string, ttl: number): Packet | "forward" {
  const q: Question | undefined = query.questions?.[0];
  if (!q || (query.questions?.length ?? 0) !== 1) return "forward";
  const name = normaliseName(q.name);
  const vips = table.get(name);
  const base = { type: "response" as const, id: query.id ?? 0, questions: [q] };
  const rd = (query.flags ?? 0) & dnsPacket.RECURSION_DESIRED;
  const flags = dnsPacket.AUTHORITATIVE_ANSWER | dnsPacket.RECURSION_AVAILABLE | rd;
  if (vips) {
    const answers: Answer[] = q.type === "A" ? vips.map((data) => ({ type: "A", name: q.name, ttl, class: "IN", data })) : [];
    return { ...base, flags, answers };
  }
  const d = normaliseName(domain);
  if (name === d || name.endsWith(`.${d}`)) return { ...base, flags: flags | RCODE_NXDOMAIN, answers: [] };
  return "forward";
}

export class DnsProxy {
  private table: Map<string, string[]>;
  private upstreams: DnsUpstream[] = [];
  private udp?: UdpSocket;
  private tcp?: Server;
  private readonly tcpSockets = new Set<Socket>();
  private readonly domain: string;
  private readonly ttl: number;
  private readonly timeoutMs: number;

  private constructor(private readonly options: DnsProxyOptions) {
    this.domain = options.domain ?? "cluster.local";
    this.ttl = options.ttlSeconds ?? 30;
    this.timeoutMs = options.upstreamTimeoutMs ?? 2000;
    this.table = dnsNameTable(options.services ?? [], options.namespace, this.domain);
  }

  /** Starts UDP and TCP on the same port (for port 0, TCP takes the port UDP got). */
  static async start(options: DnsProxyOptions): Promise<DnsProxy> {
    const p = new DnsProxy(options);
    p.upstreams = options.upstreams ? [...options.upstreams] : parseResolvConf(await readFile(options.resolvConf ?? "/etc/resolv.conf", "utf8").catch(() => ""));
    if (options.servicesFile) {
      p.setServices(await readDnsTable(options.servicesFile));
      p.followTable(options.servicesFile);
    }
    try {
      await p.listen(options.host ?? "127.0.0.1", options.port ?? DNS_PROXY_PORT);
    } catch (err) {
      if (options.servicesFile) unwatchFile(options.servicesFile);
      throw err;
    }
    return p;
  }

  /** Replaces the service table (the registry changed). */
  setServices(services: readonly DnsService[]): void {
    this.table = dnsNameTable(services, this.options.namespace, this.domain);
  }

  get port(): number {
    return this.udp!.address().port;
  }

  /** Number of names answered locally (for logs). */
  get names(): number {
    return this.table.size;
  }

  /** Errors while re-reading the services file go here (the last good table stays). */
  onTableError: (err: Error) => void = () => {};

  private tableListener?: (cur: Stats, prev: Stats) => void;

  private followTable(file: string): void {
    // Polling stat, not inotify: writeDnsTable replaces the file by rename, which a
    // watch on the old inode would miss. 300 ms is well under a DNS TTL.
    const listener = (cur: Stats, prev: Stats): void => {
      if (cur.mtimeMs === prev.mtimeMs && cur.ino === prev.ino) return;
      readDnsTable(file).then((list) => this.setServices(list), (err: Error) => this.onTableError(err));
    };
    this.tableListener = listener;
    watchFile(file, { interval: 300, persistent: false }, listener);
  }

  async close(): Promise<void> {
    if (this.options.servicesFile) unwatchFile(this.options.servicesFile, this.tableListener);
    for (const s of this.tcpSockets) s.destroy();
    await Promise.all([
      new Promise<void>((r) => (this.udp ? this.udp.close(() => r()) : r())),
      new Promise<void>((r) => (this.tcp ? this.tcp.close(() => r()) : r())),
    ]);
  }

  private async listen(host: string, port: number): Promise<void> {
    const udp = createSocket(host.includes(":") ? "udp6" : "udp4");
    this.udp = udp;
    await new Promise<void>((resolve, reject) => {
      udp.once("error", reject);
      udp.bind(port, host, () => {
        udp.off("error", reject);
        resolve();
      });
    });
    udp.on("error", () => {}); // a send to a vanished client must not end the proxy
    udp.on("message", (msg, rinfo) => {
      void this.handle(msg).then((reply) => {
        if (reply) udp.send(reply, rinfo.port, rinfo.address);
      });
    });
    const tcp = createServer((socket) => this.serveTcp(socket));
    this.tcp = tcp;
    await new Promise<void>((resolve, reject) => {
      tcp.once("error", (err) => {
        udp.close();
        reject(err);
      });
      tcp.listen(udp.address().port, host, () => resolve());
    });
  }

  private serveTcp(socket: Socket): void {
    this.tcpSockets.add(socket);
    socket.on("close", () => this.tcpSockets.delete(socket));
    socket.on("error", () => socket.destroy());
    let buf = Buffer.alloc(0);
    socket.on("data", (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      // Bounded: a client cannot make us buffer more than one maximal message.
      while (buf.length >= 2) {
        const len = buf.readUInt16BE(0);
        if (buf.length < 2 + len) break;
        const msg = buf.subarray(2, 2 + len);
        buf = buf.subarray(2 + len);
        void this.handle(msg).then((reply) => {
          if (!reply || socket.destroyed) return;
          const head = Buffer.alloc(2);
          head.writeUInt16BE(reply.length);
          socket.write(Buffer.concat([head, reply]));
        });
      }
    });
  }

  /** One DNS message in, one out (undefined: unparseable, dropped like a resolver does). */
  private async handle(msg: Buffer): Promise<Buffer | undefined> {
    let query: DecodedPacket;
    try {
      query = dnsPacket.decode(msg);
    } catch {
      return undefined;
    }
    if (query.type !== "query") return undefined;
    const answer = answerQuery(query, this.table, this.domain, this.ttl);
    if (answer !== "forward") return dnsPacket.encode(answer);
    const forwarded = await this.forward(msg);
    if (forwarded) return forwarded;
    return dnsPacket.encode({ type: "response", id: query.id ?? 0, flags: dnsPacket.RECURSION_AVAILABLE | RCODE_SERVFAIL, questions: query.questions ?? [], answers: [] });
  }

  /** The query as received, to each upstream in turn until one answers in time. */
  private async forward(msg: Buffer): Promise<Buffer | undefined> {
    for (const up of this.upstreams) {
      const reply = await udpExchange(msg, up, this.timeoutMs);
      if (reply) return reply;
    }
    return undefined;
  }
}

function udpExchange(msg: Buffer, up: DnsUpstream, timeoutMs: number): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const sock = createSocket(up.address.includes(":") ? "udp6" : "udp4");
    const id = msg.readUInt16BE(0);
    const done = (reply: Buffer | undefined): void => {
      clearTimeout(timer);
      sock.close();
      resolve(reply);
    };
    const timer = setTimeout(() => done(undefined), timeoutMs);
    sock.on("error", () => done(undefined));
    sock.on("message", (reply) => {
      if (reply.length >= 2 && reply.readUInt16BE(0) === id) done(reply);
    });
    sock.send(msg, up.port, up.address);
  });
}
