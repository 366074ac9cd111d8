// The netns plumbing's logic without root: addresses, names, and the exact commands
// NetnsNetwork issues (a recording runner stands in for `ip`/`iptables`), including
// rollback when a step fails. The real thing runs in netns.test.ts.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { existsSync } from "node:fs";
import { connect, createServer, type AddressInfo, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { originalDestination } from "../../src/proxy/inspect.ts";
import { originalDstAvailable } from "../../src/proxy/original-dst.ts";
import { AddressPool, NetnsNetwork, VipPool, checkTag, hostVethName, lookupUser, namespaceName, parseSubnet, type Runner } from "../../src/runtime/netns/index.ts";

test("subnets: parsed, host bits and odd prefixes refused with the fix", () => {
  const s = parseSubnet("198.18.0.0/24");
  assert.equal(s.size, 254);
  assert.throws(() => parseSubnet("198.18.0.5/24"), /has host bits set; did you mean 198\.18\.0\.0\/24\?/);
  assert.throws(() => parseSubnet("198.18.0.0/31"), /prefix from \/8 to \/29/);
  assert.throws(() => parseSubnet("not-a-cidr", "serviceSubnet"), /serviceSubnet must be an IPv4 CIDR/);
});

test("address pool: bridge takes .1, probes the last, replicas the lowest free, released addresses come back, full is an error", () => {
  const pool = new AddressPool(parseSubnet("198.18.5.0/29")); // 6 hosts: .1 bridge, .2-.5 replicas, .6 probes
  assert.equal(pool.gateway, "198.18.5.1");
  assert.equal(pool.probeSource, "198.18.5.6");
  assert.equal(pool.take("a"), "198.18.5.2");
  assert.equal(pool.take("b"), "198.18.5.3");
  assert.equal(pool.take("a"), "198.18.5.2", "same owner, same address");
  pool.release("a");
  assert.equal(pool.take("c"), "198.18.5.2");
  for (const n of ["d", "e"]) pool.take(n);
  assert.throws(() => pool.take("g"), /198\.18\.5\.0\/29 is full \(4 replicas\); choose a larger subnet/);
  const vips = new VipPool(parseSubnet("198.18.1.0/24"));
  assert.equal(vips.vip("x.demo.svc.cluster.local"), vips.vip("x.demo.svc.cluster.local"));
  assert.notEqual(vips.vip("x.demo.svc.cluster.local"), vips.vip("y.demo.svc.cluster.local"));
});

test("names: namespaces carry the tag; veth names fit the kernel's 15 bytes", () => {
  assert.equal(namespaceName("skiff", "sa-logic-v1-0"), "skiff-sa-logic-v1-0");
  const veth = hostVethName("skiff", "a-very-long-replica-name-that-goes-on-0");
  assert.ok(veth.length <= 15, veth);
  assert.notEqual(hostVethName("skiff", "a-0"), hostVethName("skiff", "a-1"));
  assert.throws(() => checkTag("Skiff"), /tag must be 1-6 lowercase letters or digits/);
  assert.throws(() => namespaceName("skiff", "Bad_Name"), /not a DNS label-like name/);
});

test("proxy user lookup reads uid and gid from passwd text", () => {
  const passwd = "root:x:0:0:root:/root:/bin/bash\nskiff-proxy:x:999:995::/nonexistent:/usr/sbin/nologin\n";
  assert.deepEqual(lookupUser(passwd, "skiff-proxy"), { name: "skiff-proxy", uid: 999, gid: 995 });
  assert.equal(lookupUser(passwd, "nobody"), undefined);
});

function recorder(): { runner: Runner; calls: string[] } {
  const calls: string[] = [];
  const runner: Runner = async (file, args) => {
    calls.push([file, ...args].join(" "));
    return "";
  };
  return { runner, calls };
}

test("a replica gets a namespace, a veth into the bridge, an address, lo up and a default route; teardown undoes it all", async (t) => {
  const etc = await mkdtemp(join(tmpdir(), "skiff-netns-etc-"));
  t.after(() => rm(etc, { recursive: true, force: true }));
  const { runner, calls } = recorder();
  const net = await NetnsNetwork.create({ tag: "skt", subnet: "198.18.9.0/24", serviceSubnet: "198.18.10.0/24", runner, netnsEtc: etc });
  assert.ok(calls.includes("ip link add skt0 type bridge"));
  assert.ok(calls.includes("ip addr add 198.18.9.1/24 dev skt0"));
  assert.ok(calls.includes("ip addr add 198.18.9.254/32 dev skt0"), "the probe address, /32 so routes keep .1 as source");
  assert.equal(net.probeSource, "198.18.9.254");
  assert.ok(calls.includes("iptables -w 5 -A SKT-FORWARD -i skt0 ! -o skt0 -j DROP"), "replica traffic is never forwarded off the host");
  calls.length = 0;
  const r = await net.addReplica("web-0", { meshNamespace: "demo" });
  assert.deepEqual({ ns: r.namespace, address: r.address, gateway: r.gateway }, { ns: "skt-web-0", address: "198.18.9.2", gateway: "198.18.9.1" });
  const veth = r.hostVeth;
  assert.deepEqual(calls.map((c) => c.replace(/sktp[0-9a-f]{8}/, "PEER")), [
    "ip netns add skt-web-0",
    `ip link add ${veth} type veth peer name PEER netns skt-web-0`,
    `ip link set ${veth} master skt0`,
    `ip link set ${veth} up`,
    "ip -n skt-web-0 link set PEER name eth0",
    "ip -n skt-web-0 addr add 198.18.9.2/24 dev eth0",
    "ip -n skt-web-0 link set eth0 up",
    "ip -n skt-web-0 link set lo up",
    "ip -n skt-web-0 route add default via 198.18.9.1",
  ]);
  assert.equal(await readFile(join(etc, "skt-web-0", "resolv.conf"), "utf8"), "nameserver 198.18.9.1\nsearch demo.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5\n");
  assert.deepEqual(net.commandIn("skt-web-0", ["node", "app.js"], { uid: 999, gid: 995 }), {
    file: "ip",
    args: ["netns", "exec", "skt-web-0", "setpriv", "--reuid=999", "--regid=995", "--clear-groups", "--", "node", "app.js"],
  });
  calls.length = 0;
  await net.teardown();
  const order = calls.filter((c) => /netns del|link del|-X SKT-FORWARD/.test(c));
  assert.deepEqual(new Set(order), new Set([`ip link del ${veth}`, "ip netns del skt-web-0", "iptables -w 5 -X SKT-FORWARD", "ip link del skt0"]));
  assert.ok(calls.indexOf("ip netns del skt-web-0") < calls.indexOf("ip link del skt0"), "namespaces go before the bridge");
  assert.equal(existsSync(join(etc, "skt-web-0")), false, "the namespace's resolv.conf is removed");
});

test("a failing step rolls the replica back and frees its address", async (t) => {
  const etc = await mkdtemp(join(tmpdir(), "skiff-netns-etc-"));
  t.after(() => rm(etc, { recursive: true, force: true }));
  let fail = true;
  const calls: string[] = [];
  const runner: Runner = async (file, args) => {
    const line = [file, ...args].join(" ");
    calls.push(line);
    if (fail && line.includes("route add default")) throw new Error(`\`${line}\` failed: Nexthop has invalid gateway`);
    return "";
  };
  const net = await NetnsNetwork.create({ tag: "skt", subnet: "198.18.9.0/24", serviceSubnet: "198.18.10.0/24", runner, netnsEtc: etc });
  await assert.rejects(net.addReplica("web-0"), /route add default via 198\.18\.9\.1` failed: Nexthop has invalid gateway/);
  assert.ok(calls.includes("ip netns del skt-web-0"), "the half-made namespace is deleted");
  assert.equal(net.created().some((r) => r.name === "skt-web-0"), false);
  fail = false;
  assert.equal((await net.addReplica("other-0")).address, "198.18.9.2", "the address came back");
});

test("overlapping subnets are refused before anything is created", async () => {
  const { runner, calls } = recorder();
  await assert.rejects(NetnsNetwork.create({ subnet: "198.18.0.0/23", serviceSubnet: "198.18.1.0/24", runner }), /overlap; give them separate ranges/);
  assert.deepEqual(calls, []);
});

test("a connection that was not redirected keeps its own destination, with or without the addon (process mode)", async (t) => {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  t.after(() => server.close());
  const port = (server.address() as AddressInfo).port;
  const accepted = new Promise<Socket>((r) => server.once("connection", r));
  const client = connect(port, "127.0.0.1");
  t.after(() => client.destroy());
  const socket = await accepted;
  t.after(() => socket.destroy());
  assert.deepEqual(originalDestination(socket), { address: "127.0.0.1", port });
  t.diagnostic(`SO_ORIGINAL_DST addon ${originalDstAvailable() ? "loaded" : "not built: local-address fallback"}`);
});

test("a bridge that cannot be finished is removed again, and the error says which command failed", async () => {
  const calls: string[] = [];
  const runner: Runner = async (file, args) => {
    const line = [file, ...args].join(" ");
    calls.push(line);
    if (line.startsWith("iptables -w 5 -N")) throw new Error("`iptables` was not found: install iptables (Debian: apt-get install iptables)");
    return "";
  };
  await assert.rejects(NetnsNetwork.create({ tag: "skt", runner }), /`iptables` was not found: install iptables/);
  assert.equal(calls.at(-1), "ip link del skt0");
});
