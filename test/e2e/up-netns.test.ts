// The tutorial, end to end, in netns mode: `skiff up --netns` on samples/sentiment as a
// real child process (root only). Every replica runs in its own network namespace with
// iptables capture through its sidecar; the apps get no HTTP_PROXY. The steps and
// counts are the process-mode walk's (test/e2e/up-tutorial.test.ts), plus: a workload in
// a namespace without injection reaches sa-webapp by service name through DNS, the VIP
// rules and sa-webapp's inbound capture; and stopping leaves nothing behind (`ip netns`,
// `ip link`, `iptables-save`). Addresses: 198.18.250.0/24 (never routed, see
// docs/netns-mode.md), tag `sktup`, so a user's mesh (tag `skiff`) is never touched.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { kernelFreePort, readState, sweepStale, type MeshState } from "../../src/runtime/index.ts";
import { cleanupNetns, listNetns, namespaceName, netnsSupport } from "../../src/runtime/netns/index.ts";

import { assertCanarySplitsAndReverts, assertIngressServesTheApp, call, eventually, versions } from "./helpers/tutorial.ts";
import { LEGACY_MESH } from "./helpers/netns.ts";
import { alive } from "./helpers/mesh.ts";
const SKIFF = fileURLToPath(new URL("../../bin/skiff.js", import.meta.url));
const SAMPLES = fileURLToPath(new URL("../../samples/sentiment/", import.meta.url));
const ISTIO = join(SAMPLES, "istio");
const TAG = "sktup";
const SUBNET = "198.18.250.0/24";

const support = await netnsSupport();
const skip = support.ok ? false : `netns mode unavailable here (${support.reason}); run as root on Linux with iproute2, iptables and util-linux`;

function exec(file: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { env, timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === "number" ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

const skiff = (env: NodeJS.ProcessEnv, ...args: string[]) => exec(process.execPath, [SKIFF, ...args], env);


test("the tutorial in netns mode: capture, VIPs and DNS; ingress, the app, feedback, canary 90/10 and back; a legacy workload; nothing left behind", { skip, timeout: 300_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "skiff-netns-tutorial-"));
  const runDir = join(dir, "run");
  const legacyFile = join(dir, "legacy.yaml");
  writeFileSync(legacyFile, LEGACY_MESH);
  const env = { ...process.env, SKIFF_RUN_DIR: runDir, DATA_DIR: join(dir, "feedback"), SKIFF_NETNS_TAG: TAG, SKIFF_NETNS_SUBNET: SUBNET };
  // A previous run of this test killed outright would have left these.
  await cleanupNetns(TAG);
  const port = await kernelFreePort();
  const up = spawn(process.execPath, [SKIFF, "up", "--netns", "-f", join(SAMPLES, "mesh.yaml"), "-f", legacyFile, "--port", String(port), "--trace-port", "0", "--wait", "120"], { env, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  up.stdout.on("data", (c: Buffer) => (output += c.toString()));
  up.stderr.on("data", (c: Buffer) => (output += c.toString()));
  const exited = new Promise<number | null>((resolve) => up.once("exit", (code) => resolve(code)));
  // A failing test still stops the mesh (SIGTERM, then SIGKILL, the process sweep and the network sweep).
  t.after(async () => {
    if (up.exitCode === null) {
      up.kill("SIGTERM");
      const stopped = await Promise.race([exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 20_000))]);
      if (!stopped) {
        const state = readState(runDir);
        up.kill("SIGKILL");
        await exited;
        if (state) sweepStale(state);
      }
    }
    await cleanupNetns(TAG);
  });
  // Registered after the stop above, so it runs after it: the mesh is gone before its run directory.
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  for (let i = 0; i < 1500 && !/skiff up: (ready|not ready)/.test(output) && up.exitCode === null; i++) await new Promise((r) => setTimeout(r, 100));
  assert.match(output, /skiff up: ready/, output);

  await t.test("every replica has its own namespace and address; sidecar apps have no HTTP_PROXY, their namespace has Istio's capture rules", async () => {
    const status = JSON.parse((await skiff(env, "status", "-o", "json")).stdout) as { replicas: { name: string; namespace: string; address?: string; app: { pid?: number } }[] };
    const webapp = status.replicas.find((r) => r.name === "sa-webapp-0");
    assert.ok(webapp, JSON.stringify(status));
    assert.ok(webapp.address?.startsWith("198.18.250."), JSON.stringify(webapp));
    const addresses = new Set(status.replicas.map((r) => r.address));
    assert.equal(addresses.size, status.replicas.length, "addresses are distinct");
    const environ = readFileSync(`/proc/${webapp.app.pid}/environ`, "utf8").split("\0");
    assert.equal(environ.some((e) => /^http_proxy=/i.test(e)), false, "no HTTP_PROXY in netns mode");
    const ns = namespaceName(TAG, "sa-webapp-0.demo");
    // The app process is inside the replica's namespace.
    const link = await exec("ip", ["netns", "identify", String(webapp.app.pid)]);
    assert.equal(link.stdout.trim(), ns);
    const nat = await exec("ip", ["netns", "exec", ns, "iptables-save", "-t", "nat"]);
    assert.match(nat.stdout, /-A ISTIO_REDIRECT -p tcp -j REDIRECT --to-ports 15001/);
    assert.match(nat.stdout, /-A ISTIO_IN_REDIRECT -p tcp -j REDIRECT --to-ports 15006/);
  });

  await t.test("1. before any Gateway is applied, the gateway answers 404", async () => {
    assert.equal((await call(port, "/")).status, 404);
  });

  await t.test("2. with the Gateway and VirtualService: page, static file, image, sentiment, feedback", async () => {
    // sa-webapp calls http://sa-logic: DNS to a VIP, captured to its sidecar's 15001.
    await assertIngressServesTheApp(port, ISTIO, (...args) => skiff(env, ...args));
  });

  await t.test("4. a workload in a namespace without injection reaches sa-webapp by service name with plain HTTP", async () => {
    const ns = namespaceName(TAG, "legacy-client-0.legacy");
    // Plain curl inside the legacy namespace: the bridge DNS proxy answers sa-webapp.demo
    // with its VIP, the namespace's VIP rule DNATs it to sa-webapp's address, and
    // sa-webapp's inbound capture hands it to its sidecar.
    const r = await exec("ip", ["netns", "exec", ns, "curl", "-sS", "-m", "10", "-H", "content-type: application/json", "-d", '{"sentence":"what a lovely day"}', "http://sa-webapp.demo/sentiment"]);
    assert.equal(r.code, 0, r.stderr);
    const reply = JSON.parse(r.stdout) as { sentence: string; polarity: number };
    assert.equal(reply.sentence, "what a lovely day");
    assert.ok(reply.polarity > 0, r.stdout);
    const resolved = await exec("ip", ["netns", "exec", ns, "getent", "hosts", "sa-webapp.demo"]);
    assert.match(resolved.stdout, /^240\.240\.\d+\.\d+\s/, "the registry's VIP");
  });

  await t.test("3. v2 deployed under the v1-only VirtualService: 200 of 200 answered by v1", async () => {
    for (const f of [["sa-logic-dr.yaml", "sa-logic-vs.yaml"], ["sa-logic-v2.yaml"]]) {
      const r = await skiff(env, "apply", ...f.flatMap((n) => ["-f", join(ISTIO, n)]));
      assert.equal(r.code, 0, r.stderr);
    }
    const status = await eventually(() => skiff(env, "status"), (r) => /demo\s+sa-logic-v2-0\s+sa-logic-v2\s+2\/2/.test(r.stdout), 300);
    assert.match(status.stdout, /demo\s+sa-logic-v2-0\s+sa-logic-v2\s+2\/2/, status.stdout);
    const counts = await versions(port, 200);
    assert.deepEqual([...counts], [["v1", 200]]);
  });

  await t.test("3. the canary VirtualService splits 1,000 requests 90/10 (within 4 sigma); v1-only again brings 100% back", async () => {
    await assertCanarySplitsAndReverts(port, ISTIO, (...args) => skiff(env, ...args));
  });

  await t.test("5. stopping leaves no process, namespace, link, iptables rule or bridge behind", async () => {
    const state = JSON.parse(readFileSync(join(runDir, "state.json"), "utf8")) as MeshState;
    const pids = state.processes.map((p) => p.pid).filter((p): p is number => p !== undefined);
    assert.ok(pids.length >= 7, JSON.stringify(state.processes));
    up.kill("SIGTERM");
    assert.equal(await exited, 0, output);
    assert.equal(existsSync(join(runDir, "state.json")), false);
    for (const pid of pids) assert.equal(alive(pid), false, `process ${pid} outlived skiff up`);
    assert.deepEqual(await listNetns(TAG), { namespaces: [], links: [], iptablesChains: [], etcDirs: [] });
    const namespaces = (await exec("ip", ["netns", "list"])).stdout;
    assert.equal(namespaces.split("\n").some((l) => l.startsWith(`${TAG}-`)), false, namespaces);
    const links = (await exec("ip", ["-o", "link", "show"])).stdout;
    assert.equal(links.includes(TAG), false, links);
    const rules = (await exec("iptables-save", [])).stdout;
    assert.equal(rules.toUpperCase().includes(TAG.toUpperCase()), false, rules);
  });
});

const SMALL_MESH = `apiVersion: v1
kind: Namespace
metadata: { name: crash, labels: { istio-injection: enabled } }
---
apiVersion: v1
kind: Service
metadata: { name: hello, namespace: crash }
spec:
  selector: { app: hello }
  ports: [{ name: http, port: 80, targetPort: 9000 }]
---
apiVersion: skiff.dev/v1alpha1
kind: Workload
metadata: { name: hello, namespace: crash }
spec:
  command: ["node", "-e", "require('node:http').createServer((q, s) => s.end('hello')).listen(Number(process.env.PORT))"]
  ports: [{ name: http, containerPort: 9000 }]
  labels: { app: hello }
`;

test("a netns mesh killed outright: the next skiff up --netns stops its processes and sweeps its network", { skip, timeout: 120_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "skiff-netns-crash-"));
  const runDir = join(dir, "run");
  const meshFile = join(dir, "mesh.yaml");
  writeFileSync(meshFile, SMALL_MESH);
  const env = { ...process.env, SKIFF_RUN_DIR: runDir, SKIFF_NETNS_TAG: TAG, SKIFF_NETNS_SUBNET: SUBNET };
  await cleanupNetns(TAG);
  const start = async (): Promise<{ child: ReturnType<typeof spawn>; exited: Promise<number | null>; output: () => string }> => {
    const child = spawn(process.execPath, [SKIFF, "up", "--netns", "-f", meshFile, "--port", String(await kernelFreePort()), "--trace-port", "0", "--wait", "60"], { env, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout?.on("data", (c: Buffer) => (out += c.toString()));
    child.stderr?.on("data", (c: Buffer) => (out += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    for (let i = 0; i < 900 && !/skiff up: (ready|not ready)/.test(out) && child.exitCode === null; i++) await new Promise((r) => setTimeout(r, 100));
    return { child, exited, output: () => out };
  };
  const running: { child: ReturnType<typeof spawn>; exited: Promise<number | null> }[] = [];
  t.after(async () => {
    for (const r of running) if (r.child.exitCode === null) r.child.kill("SIGKILL");
    const state = readState(runDir);
    if (state) sweepStale(state);
    await cleanupNetns(TAG);
  });
  t.after(() => rmSync(dir, { recursive: true, force: true }));

  const first = await start();
  running.push(first);
  assert.match(first.output(), /skiff up: ready/, first.output());
  const pids = (readState(runDir)?.processes ?? []).map((p) => p.pid).filter((p): p is number => p !== undefined);
  assert.equal(pids.length, 3, "gateway, app and sidecar");
  first.child.kill("SIGKILL");
  await first.exited;
  // Killed outright: its children and its network outlive it.
  assert.ok(pids.some(alive));
  assert.deepEqual((await listNetns(TAG)).namespaces, [namespaceName(TAG, "hello-0.crash")]);

  const second = await start();
  running.push(second);
  assert.match(second.output(), /stopped 3 process\(es\) left running by an earlier mesh/, second.output());
  assert.match(second.output(), /skiff up: ready/, second.output());
  for (const pid of pids) assert.equal(alive(pid), false, `process ${pid} of the killed mesh still runs`);
  second.child.kill("SIGTERM");
  assert.equal(await second.exited, 0, second.output());
  assert.deepEqual(await listNetns(TAG), { namespaces: [], links: [], iptablesChains: [], etcDirs: [] });
});

test("skiff up --netns run by an ordinary user is refused at once, saying why and how to run instead", { skip, timeout: 60_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "skiff-netns-user-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  chmodSync(dir, 0o777);
  // nobody (65534): the checkout is world-readable; the run directory is the user's own.
  const r = await exec("setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", "env", `SKIFF_RUN_DIR=${join(dir, "run")}`, `HOME=${dir}`, process.execPath, SKIFF, "up", "--netns", "-f", join(SAMPLES, "mesh.yaml"), "--port", String(await kernelFreePort())]);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.match(r.stderr, /netns mode needs root .*; run without --netns for process mode/);
  assert.equal(r.stdout, "", "nothing was started");
});
