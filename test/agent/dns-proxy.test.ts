// The agent's DNS proxy, served on 127.0.0.1 and asked by Node's own resolver (c-ares)
// and by raw UDP/TCP queries. "Upstream" is a small test resolver on 127.0.0.1: no
// query ever leaves the machine.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createSocket } from "node:dgram";
import { Resolver } from "node:dns/promises";
import { connect } from "node:net";
import { spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import dnsPacket from "dns-packet";
import { DnsProxy, dnsNameTable, parseResolvConf, writeDnsTable, type DnsService } from "../../src/agent/dns-proxy.ts";

const services: DnsService[] = [
  { hostname: "sa-logic.demo.svc.cluster.local", name: "sa-logic", namespace: "demo", addresses: ["198.18.1.5"] },
  { hostname: "reviews.other.svc.cluster.local", name: "reviews", namespace: "other", addresses: ["198.18.1.6", "198.18.1.7"] },
  { hostname: "headless.demo.svc.cluster.local", name: "headless", namespace: "demo", addresses: [] },
  { hostname: "api.partner.test", name: "api.partner.test", namespace: "demo", addresses: ["198.18.1.9"] },
];

/** A resolver that knows one name and says NXDOMAIN to the rest; it counts queries. */
async function testResolver(): Promise<{ port: number; seen: string[]; close: () => Promise<void> }> {
  const sock = createSocket("udp4");
  const seen: string[] = [];
  sock.on("message", (msg, rinfo) => {
    const q = dnsPacket.decode(msg);
    const question = q.questions![0]!;
    seen.push(question.name);
    const known = question.name === "upstream-only.test" && question.type === "A";
    const reply = dnsPacket.encode({
      type: "response",
      id: q.id,
      flags: dnsPacket.RECURSION_AVAILABLE | (known ? 0 : 3),
      questions: q.questions,
      answers: known ? [{ type: "A", name: question.name, ttl: 5, data: "203.0.113.7" }] : [],
    });
    sock.send(reply, rinfo.port, rinfo.address);
  });
  await new Promise<void>((r) => sock.bind(0, "127.0.0.1", () => r()));
  return { port: sock.address().port, seen, close: () => new Promise((r) => sock.close(() => r())) };
}

async function setup(t: { after: (fn: () => Promise<void>) => void }, upstreamTimeoutMs = 2000) {
  const upstream = await testResolver();
  const proxy = await DnsProxy.start({ port: 0, namespace: "demo", services, upstreams: [{ address: "127.0.0.1", port: upstream.port }], upstreamTimeoutMs });
  t.after(async () => {
    await proxy.close();
    await upstream.close();
  });
  const resolver = new Resolver({ timeout: 3000, tries: 1 });
  resolver.setServers([`127.0.0.1:${proxy.port}`]);
  return { upstream, proxy, resolver };
}

/** The response code (low 4 bits of the flags): 0 NOERROR, 2 SERVFAIL, 3 NXDOMAIN. */
function rcode(p: dnsPacket.DecodedPacket): number {
  return (p.flags ?? 0) & 15;
}

/** The addresses of a reply's A records. */
function addresses(p: dnsPacket.DecodedPacket): string[] {
  return (p.answers ?? []).flatMap((a) => (a.type === "A" ? [a.data] : []));
}

async function udpQuery(port: number, name: string, type: "A" | "AAAA" = "A"): Promise<dnsPacket.DecodedPacket> {
  const sock = createSocket("udp4");
  try {
    const reply = new Promise<Buffer>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("no DNS reply in 5 s")), 5000);
      sock.once("message", (m) => {
        clearTimeout(timer);
        resolve(m);
      });
    });
    sock.send(dnsPacket.encode({ type: "query", id: 4242, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type, name }] }), port, "127.0.0.1");
    return dnsPacket.decode(await reply);
  } finally {
    sock.close();
  }
}

test("mesh names resolve to their VIPs: short name in the own namespace, name.ns, name.ns.svc, FQDN", async (t) => {
  const { resolver, upstream } = await setup(t);
  for (const name of ["sa-logic", "sa-logic.demo", "sa-logic.demo.svc", "sa-logic.demo.svc.cluster.local", "SA-Logic.Demo.svc.cluster.local."]) {
    assert.deepEqual(await resolver.resolve4(name), ["198.18.1.5"], name);
  }
  assert.deepEqual((await resolver.resolve4("reviews.other")).sort(), ["198.18.1.6", "198.18.1.7"]);
  assert.deepEqual(await resolver.resolve4("api.partner.test"), ["198.18.1.9"], "ServiceEntry host");
  assert.deepEqual(upstream.seen, [], "mesh names are answered locally, never forwarded");
});

test("a short name of another namespace is not the mesh's: it goes upstream", async (t) => {
  const { resolver, upstream } = await setup(t);
  await assert.rejects(resolver.resolve4("reviews"), { code: "ENOTFOUND" });
  assert.deepEqual(upstream.seen, ["reviews"]);
});

test("AAAA for a mesh name is an empty answer, not an error nor a forward", async (t) => {
  const { proxy, upstream } = await setup(t);
  const reply = await udpQuery(proxy.port, "sa-logic", "AAAA");
  assert.equal(rcode(reply), 0, "NOERROR");
  assert.equal(reply.id, 4242);
  assert.deepEqual(reply.answers, []);
  assert.deepEqual(upstream.seen, []);
});

test("unknown names under the mesh domain are NXDOMAIN at once; others are forwarded", async (t) => {
  const { resolver, upstream } = await setup(t);
  await assert.rejects(resolver.resolve4("sa-logic.demo.demo.svc.cluster.local"), { code: "ENOTFOUND" });
  await assert.rejects(resolver.resolve4("headless.demo.svc.cluster.local"), { code: "ENOTFOUND" });
  assert.deepEqual(upstream.seen, [], "the mesh domain is never forwarded");
  assert.deepEqual(await resolver.resolve4("upstream-only.test"), ["203.0.113.7"]);
  assert.deepEqual(upstream.seen, ["upstream-only.test"]);
});

test("DNS over TCP: length-prefixed queries on the same port", async (t) => {
  const { proxy } = await setup(t);
  const socket = connect(proxy.port, "127.0.0.1");
  t.after(() => socket.destroy());
  const replies: dnsPacket.DecodedPacket[] = [];
  const got = new Promise<void>((resolve, reject) => {
    let buf = Buffer.alloc(0);
    socket.on("error", reject);
    socket.on("data", (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        replies.push(dnsPacket.decode(buf.subarray(2, 2 + buf.readUInt16BE(0))));
        buf = buf.subarray(2 + buf.readUInt16BE(0));
      }
      if (replies.length === 2) resolve();
    });
  });
  // Two queries in one write: the proxy must frame them apart.
  socket.write(Buffer.concat([
    dnsPacket.streamEncode({ type: "query", id: 1, questions: [{ type: "A", name: "sa-logic" }] }),
    dnsPacket.streamEncode({ type: "query", id: 2, questions: [{ type: "A", name: "upstream-only.test" }] }),
  ]));
  await got;
  const byId = new Map(replies.map((r) => [r.id, r]));
  assert.deepEqual(addresses(byId.get(1)!), ["198.18.1.5"]);
  assert.deepEqual(addresses(byId.get(2)!), ["203.0.113.7"]);
});

test("a silent upstream gives SERVFAIL, not a hang", async (t) => {
  const silent = createSocket("udp4"); // bound, never answers
  await new Promise<void>((r) => silent.bind(0, "127.0.0.1", () => r()));
  const proxy = await DnsProxy.start({ port: 0, namespace: "demo", services, upstreams: [{ address: "127.0.0.1", port: silent.address().port }], upstreamTimeoutMs: 200 });
  t.after(async () => {
    await proxy.close();
    silent.close();
  });
  const reply = await udpQuery(proxy.port, "upstream-only.test");
  assert.equal(rcode(reply), 2, "SERVFAIL");
  // The mesh still answers while the upstream is down.
  assert.deepEqual(addresses(await udpQuery(proxy.port, "sa-logic")), ["198.18.1.5"]);
});

test("setServices replaces the table: new services resolve, removed ones no longer do", async (t) => {
  const { proxy, resolver } = await setup(t);
  proxy.setServices([{ hostname: "ratings.demo.svc.cluster.local", name: "ratings", namespace: "demo", addresses: ["198.18.1.20"] }]);
  assert.deepEqual(await resolver.resolve4("ratings"), ["198.18.1.20"]);
  await assert.rejects(resolver.resolve4("sa-logic.demo.svc.cluster.local"), { code: "ENOTFOUND" });
});

test("parseResolvConf keeps IPv4 nameservers in order; dnsNameTable skips services without an IPv4 VIP", () => {
  assert.deepEqual(parseResolvConf("# comment\nsearch demo.svc.cluster.local\nnameserver 127.0.0.53\nnameserver ::1\n nameserver 198.18.0.1\noptions ndots:5\n"), [
    { address: "127.0.0.53", port: 53 },
    { address: "198.18.0.1", port: 53 },
  ]);
  const table = dnsNameTable(services, "other");
  assert.deepEqual(table.get("reviews"), ["198.18.1.6", "198.18.1.7"], "short names follow the workload's namespace");
  assert.equal(table.get("sa-logic"), undefined);
  assert.equal(table.get("headless.demo"), undefined);
});

test("`skiff dns-proxy` as a process: answers from its services file, follows rewrites, keeps the last good table, stops on SIGTERM", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "skiff-dns-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const table = join(dir, "dns.json");
  await writeDnsTable(table, services);
  const upstream = await testResolver();
  t.after(() => upstream.close());
  const bin = fileURLToPath(new URL("../../bin/skiff.js", import.meta.url));
  const child = spawn(process.execPath, [bin, "dns-proxy", "--namespace", "demo", "--port", "0", "--services-file", table, "--upstream", `127.0.0.1:${upstream.port}`], { stdio: ["ignore", "pipe", "pipe"] });
  t.after(() => child.kill("SIGKILL"));
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const port = await new Promise<number>((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error(`no listening line in 20 s: ${out} ${stderr}`)), 20_000);
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString();
      const m = /listening on 127\.0\.0\.1:(\d+) \(udp, tcp\), 8 mesh names/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    child.once("exit", (code) => reject(new Error(`exited ${code}: ${out} ${stderr}`)));
  });
  assert.deepEqual(addresses(await udpQuery(port, "sa-logic")), ["198.18.1.5"]);
  assert.deepEqual(addresses(await udpQuery(port, "upstream-only.test")), ["203.0.113.7"], "forwarded to --upstream");

  await writeDnsTable(table, [{ hostname: "ratings.demo.svc.cluster.local", name: "ratings", namespace: "demo", addresses: ["198.18.1.21"] }]);
  // Bounded wait for the poll (300 ms interval) to pick the rewrite up.
  let seen: string[] = [];
  for (let i = 0; i < 50 && seen.length === 0; i++) {
    seen = addresses(await udpQuery(port, "ratings"));
    if (seen.length === 0) await new Promise((r) => setTimeout(r, 100));
  }
  assert.deepEqual(seen, ["198.18.1.21"]);

  await writeFile(table, "{ not json");
  for (let i = 0; i < 50 && !stderr.includes("keeping the last good table"); i++) await new Promise((r) => setTimeout(r, 100));
  assert.match(stderr, /DNS table .*dns\.json: .*keeping the last good table/);
  assert.deepEqual(addresses(await udpQuery(port, "ratings")), ["198.18.1.21"]);

  const exit = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
  child.kill("SIGTERM");
  assert.equal(await exit, 0);
});

test("`skiff dns-proxy` refuses bad flags with the usage", async () => {
  const bin = fileURLToPath(new URL("../../bin/skiff.js", import.meta.url));
  const res = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
    const c = spawn(process.execPath, [bin, "dns-proxy", "--namespace", "demo", "--upstream", "resolver.example"], { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    c.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    c.once("exit", (code) => resolve({ code, stderr }));
  });
  assert.equal(res.code, 2);
  assert.match(res.stderr, /--upstream must be an IPv4 address with an optional port \(127\.0\.0\.1:5353\), got "resolver\.example"/);
});
