// netns mode's real data path, end to end on this machine: a bridge and two network
// namespaces on a benchmarking-range subnet (198.18.240.0/24) that nothing outside
// this machine uses, traffic capture applied in one of them, the SO_ORIGINAL_DST addon
// read through the proxy's own originalDestination(), and the DNS proxy reached by an
// ordinary resolver. Every address used is one the test itself created.
// Needs root on Linux with iproute2, iptables and setpriv; skipped otherwise.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { NetnsNetwork, cleanupNetns, ensureProxyUser, listNetns, netnsSupport, type ProxyUser, type ReplicaNetwork } from "../../src/runtime/netns/index.ts";
import { applyCapture, savedNatTable } from "../../src/agent/capture-apply.ts";
import { applyServiceRules } from "../../src/agent/capture-services.ts";
import { DnsProxy, writeDnsTable } from "../../src/agent/dns-proxy.ts";
import { ADDON_PATH } from "../../src/proxy/original-dst.ts";

const repo = fileURLToPath(new URL("../..", import.meta.url));
const TAG = "sktst";
const SUBNET = "198.18.240.0/24";
const SERVICE_SUBNET = "198.18.241.0/24";

const support = await netnsSupport();
// The reason shows on every skipped test's line.
const skip = support.ok ? false : `${support.reason} — skipping the netns tests`;

let net: NetnsNetwork;
let a: ReplicaNetwork;
let b: ReplicaNetwork;
let legacy: ReplicaNetwork;
let hostDns: DnsProxy | undefined;
let user: ProxyUser;
let dir: string;
let addonBuilt = false;
/** Can the proxy user read this checkout? Not when it lives under a private home (/root). */
let proxyReadsRepo = false;
const children: ChildProcess[] = [];

/** Runs a command to completion; resolves with its exit code and output (never rejects). */
function sh(file: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { timeout: 15_000, env: cleanEnv() }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === "number" ? ((err as { code: number }).code) : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** No proxy variables: curl must connect where it is told, not to a host proxy. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const k of Object.keys(env)) if (/_proxy$/i.test(k)) delete env[k];
  return env;
}

function inNs(r: ReplicaNetwork, argv: string[], asProxy = false): { file: string; args: string[] } {
  return net.commandIn(r.namespace, argv, asProxy ? user : undefined);
}

/** Starts a long-running process in a namespace and waits for it to print "ready". */
async function startIn(r: ReplicaNetwork, argv: string[], asProxy = false, env: Record<string, string> = {}, ready = "ready"): Promise<ChildProcess> {
  const { file, args } = inNs(r, argv, asProxy);
  const child = spawn(file, args, { cwd: repo, env: { ...cleanEnv(), ...env }, stdio: ["ignore", "pipe", "pipe"] });
  children.push(child);
  let out = "";
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${argv.join(" ")} did not get ready in 20 s: ${out}`)), 20_000);
    const onData = (d: Buffer): void => {
      out += d.toString();
      if (out.includes(ready)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", (d: Buffer) => (out += d.toString()));
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`${argv.join(" ")} exited (${code}): ${out}`));
    });
  });
  return child;
}

async function curl(r: ReplicaNetwork, url: string, asProxy = false): Promise<{ code: number; body: string }> {
  const { file, args } = inNs(r, ["curl", "-sS", "--max-time", "5", url], asProxy);
  const res = await sh(file, args);
  return { code: res.code, body: res.stdout || res.stderr };
}

// The capture target: what a sidecar's 15001/15006 listeners would see. Each answers one
// HTTP request with which listener took the connection and the original destination
// that the proxy's own originalDestination() (and so the addon) reports for it.
const CAPTURE_FIXTURE = `
import net from "node:net";
import { originalDestination } from ${JSON.stringify(join(repo, "src/proxy/inspect.ts"))};
import { originalDstAvailable } from ${JSON.stringify(join(repo, "src/proxy/original-dst.ts"))};
const listen = (port, host) => new Promise((resolve) => {
  const server = net.createServer((socket) => {
    const original = originalDestination(socket);
    socket.once("data", () => {
      const body = JSON.stringify({ listener: port, original, addon: originalDstAvailable() });
      socket.end("HTTP/1.1 200 OK\\r\\nContent-Type: application/json\\r\\nContent-Length: " + Buffer.byteLength(body) + "\\r\\nConnection: close\\r\\n\\r\\n" + body);
    });
    socket.on("error", () => {});
  });
  server.listen(port, host, resolve);
});
await listen(15001, "0.0.0.0");
await listen(15006, "::");
await listen(15021, "0.0.0.0");
console.log("ready");
`;

const APP_SERVER = `require("node:http").createServer((req, res) => res.end("hello from b")).listen(8080, "0.0.0.0", () => console.log("ready"));`;

before(async () => {
  if (skip) return;
  await cleanupNetns(TAG); // a previous run killed mid-way
  if (!existsSync(ADDON_PATH)) await sh(process.execPath, [join(repo, "native/build.mjs")]);
  addonBuilt = existsSync(ADDON_PATH);
  user = await ensureProxyUser();
  net = await NetnsNetwork.create({ tag: TAG, subnet: SUBNET, serviceSubnet: SERVICE_SUBNET });
  a = await net.addReplica("app-a-0", { meshNamespace: "demo" });
  b = await net.addReplica("app-b-0", { meshNamespace: "demo" });
  legacy = await net.addReplica("legacy-0", { meshNamespace: "legacy" });
  proxyReadsRepo = (await sh("setpriv", [`--reuid=${user.uid}`, `--regid=${user.gid}`, "--clear-groups", "--", "test", "-r", join(repo, "node_modules/tsx/package.json")])).code === 0;
  dir = await mkdtemp(join(tmpdir(), "skiff-netns-"));
  await chmod(dir, 0o755); // the fixture runs as the proxy user
  await writeFile(join(dir, "capture-fixture.mts"), CAPTURE_FIXTURE, { mode: 0o644 });
});

after(async () => {
  for (const c of children) if (c.exitCode === null) c.kill("SIGKILL");
  await hostDns?.close();
  if (net) await net.teardown();
  if (dir) await rm(dir, { recursive: true, force: true });
});

test("two namespaces on the bridge: an app in one serves, the other reaches it by address", { skip }, async () => {
  assert.notEqual(a.address, b.address);
  assert.equal(a.gateway, "198.18.240.1");
  await startIn(b, [process.execPath, "-e", APP_SERVER]);
  const res = await curl(a, `http://${b.address}:8080/`);
  assert.equal(res.code, 0, res.body);
  assert.equal(res.body, "hello from b");
});

test("capture: app traffic lands on 15001/15006 with its original destination; the proxy uid and admin ports pass", { skip }, async (t) => {
  await applyCapture(a.namespace, { proxyUid: user.uid, proxyGid: user.gid });
  const table = await savedNatTable(a.namespace);
  for (const chain of ["ISTIO_INBOUND", "ISTIO_IN_REDIRECT", "ISTIO_OUTPUT", "ISTIO_REDIRECT"]) assert.match(table, new RegExp(`^:${chain} `, "m"));
  assert.match(table, new RegExp(`--uid-owner ${user.uid} -j RETURN`));

  const vip = net.vip("sa-webapp.demo.svc.cluster.local");
  // As the proxy user, like a sidecar; the DNS proxy too (its own queries must not be
  // captured), following a table file as the runtime would write it. A checkout the
  // proxy user cannot read (under /root) runs them as root: the listeners' uid does not
  // matter to capture, and the DNS proxy forwards nothing here.
  if (!proxyReadsRepo) t.diagnostic(`${repo} is not readable by ${user.name}: the capture listeners and DNS proxy run as root`);
  await startIn(a, [process.execPath, "--import", "tsx", join(dir, "capture-fixture.mts")], proxyReadsRepo);
  const dnsTable = join(dir, "dns.json");
  await writeDnsTable(dnsTable, [{ hostname: "sa-webapp.demo.svc.cluster.local", name: "sa-webapp", namespace: "demo", addresses: [vip] }]);
  await startIn(a, [process.execPath, join(repo, "bin/skiff.js"), "dns-proxy", "--namespace", "demo", "--services-file", dnsTable], proxyReadsRepo, {}, "listening on 127.0.0.1:15053");

  // Outbound from the app (root): to a VIP nobody has, and to b's real address.
  const toVip = await curl(a, `http://${vip}:9080/reviews`);
  assert.equal(toVip.code, 0, toVip.body);
  const seenVip = JSON.parse(toVip.body) as { listener: number; original: { address: string; port: number }; addon: boolean };
  assert.equal(seenVip.listener, 15001);
  const toB = JSON.parse((await curl(a, `http://${b.address}:8080/`)).body) as typeof seenVip;
  assert.equal(toB.listener, 15001, "the app's connection to b was captured, not delivered");
  if (!addonBuilt) {
    t.diagnostic("the SO_ORIGINAL_DST addon could not be built here: original destinations not checked");
  } else {
    assert.equal(seenVip.addon, true);
    assert.deepEqual(seenVip.original, { address: vip, port: 9080 });
    assert.deepEqual(toB.original, { address: b.address, port: 8080 });
  }

  // The proxy's own uid is not captured: it reaches b itself.
  const asProxy = await curl(a, `http://${b.address}:8080/`, true);
  assert.equal(asProxy.code, 0, asProxy.body);
  assert.equal(asProxy.body, "hello from b");

  // Inbound from b: captured to 15006 with a's address as original destination; the
  // readiness port 15021 is excluded and reached directly.
  const inbound = JSON.parse((await curl(b, `http://${a.address}:8080/`)).body) as typeof seenVip;
  assert.equal(inbound.listener, 15006);
  if (addonBuilt) assert.deepEqual(inbound.original, { address: a.address, port: 8080 });
  const health = JSON.parse((await curl(b, `http://${a.address}:15021/healthz/ready`)).body) as typeof seenVip;
  assert.equal(health.listener, 15021);

  // DNS: the app's ordinary resolver (glibc, the namespace's resolv.conf pointing at the
  // bridge) is redirected to the DNS proxy on 15053, which knows the service's VIP...
  const getent = await sh(...spread(inNs(a, ["getent", "ahostsv4", "sa-webapp"])));
  assert.equal(getent.code, 0, getent.stderr);
  assert.match(getent.stdout, new RegExp(`^${vip.replace(/\./g, "\\.")}\\s`, "m"));
  // ...so the app can call the service by name, and the call is captured to its VIP.
  const byName = await curl(a, "http://sa-webapp:9080/");
  assert.equal(byName.code, 0, byName.body);
  const seenByName = JSON.parse(byName.body) as typeof seenVip;
  assert.equal(seenByName.listener, 15001);
  if (addonBuilt) assert.deepEqual(seenByName.original, { address: vip, port: 9080 });
});

test("a workload without a sidecar reaches a service by name: host DNS on the bridge, VIP DNAT in its namespace, the server's inbound capture", { skip }, async () => {
  // The mesh's "kube-dns": a DNS proxy on the bridge address, which every namespace's
  // resolv.conf names. The runtime runs one; here the test does.
  const vip = net.vip("sa-webapp.demo.svc.cluster.local");
  const emptyVip = net.vip("empty.demo.svc.cluster.local");
  hostDns = await DnsProxy.start({ host: net.gateway, port: 53, namespace: "legacy", upstreams: [], services: [
    { hostname: "sa-webapp.demo.svc.cluster.local", name: "sa-webapp", namespace: "demo", addresses: [vip] },
    { hostname: "empty.demo.svc.cluster.local", name: "empty", namespace: "demo", addresses: [emptyVip] },
  ] });
  await applyServiceRules(legacy.namespace, [
    { hostname: "sa-webapp.demo.svc.cluster.local", vip, port: 80, endpoints: [{ address: a.address, port: 8080 }] },
    { hostname: "empty.demo.svc.cluster.local", vip: emptyVip, port: 80, endpoints: [] },
  ]);
  const res = await curl(legacy, "http://sa-webapp.demo/");
  assert.equal(res.code, 0, res.body);
  const seen = JSON.parse(res.body) as { listener: number; original: { address: string; port: number } };
  assert.equal(seen.listener, 15006, "the call arrived through a's inbound capture");
  if (addonBuilt) assert.deepEqual(seen.original, { address: a.address, port: 8080 }, "the VIP:80 was translated to the endpoint's target port");
  // A service without endpoints is refused at once (curl: 7, could not connect).
  const empty = await curl(legacy, "http://empty.demo/");
  assert.equal(empty.code, 7, empty.body);
});

test("without the capture rules nothing is redirected (b has none)", { skip }, async () => {
  const table = await savedNatTable(b.namespace);
  assert.doesNotMatch(table, /ISTIO_/);
});

test("teardown leaves no namespace, link, iptables chain or netns file; a crashed run is swept by tag", { skip }, async () => {
  await net.teardown();
  for (const c of children) if (c.exitCode === null) c.kill("SIGKILL");
  assert.deepEqual(await listNetns(TAG), { namespaces: [], links: [], iptablesChains: [], etcDirs: [] });
  const links = await sh("ip", ["-o", "link", "show"]);
  assert.doesNotMatch(links.stdout, new RegExp(`\\b${TAG}`));
  const rules = await sh("iptables-save", []);
  assert.doesNotMatch(rules.stdout, new RegExp(TAG.toUpperCase()));

  // A "crashed" mesh: created, then its process state lost.
  const crashed = await NetnsNetwork.create({ tag: TAG, subnet: SUBNET, serviceSubnet: SERVICE_SUBNET });
  await crashed.addReplica("left-behind-0");
  await assert.rejects(NetnsNetwork.create({ tag: TAG, subnet: SUBNET, serviceSubnet: SERVICE_SUBNET }), /bridge sktst0 already exists/);
  assert.deepEqual((await listNetns(TAG)).namespaces, ["sktst-left-behind-0"]);
  await cleanupNetns(TAG);
  assert.deepEqual(await listNetns(TAG), { namespaces: [], links: [], iptablesChains: [], etcDirs: [] });
});

function spread(c: { file: string; args: string[] }): [string, string[]] {
  return [c.file, c.args];
}
