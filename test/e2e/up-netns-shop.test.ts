// The shop test mesh (test/e2e/helpers/shop.ts) under `skiff up --netns` (root only): a
// two-replica Workload with a Service in its own injected namespace, fronted by the
// ingress gateway, plus a workload in a namespace without injection. Regression test for
// "a tiny two-replica Workload never became ready": the shop app listens on 127.0.0.1
// only (it is served through its sidecar, which reaches it there), while the readiness
// probes, which skip capture so that STRICT mTLS cannot fail them, went to the replica's
// own address and were refused. They now land on 127.0.0.1 as well (docs/netns-mode.md).
// Also inbound passthrough: a sidecar'd workload that no Service selects is reached on its
// address through its sidecar's InboundPassthroughCluster, whose connection to the app
// leaves from 127.0.0.6 so that capture lets it through (before: captured again, a loop).
// Own tag and subnet (`skshp`, 198.18.253.0/24), so no other mesh is touched.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cleanupNetns, listNetns, namespaceName, netnsSupport } from "../../src/runtime/netns/index.ts";
import { eventually, startMesh } from "./helpers/mesh.ts";
import { writeShop } from "./helpers/shop.ts";
import { LEGACY_MESH } from "./helpers/netns.ts";

const TAG = "skshp";
const SUBNET = "198.18.253.0/24";

const support = await netnsSupport();
const skip = support.ok ? false : `netns mode unavailable here (${support.reason}); run as root on Linux with iproute2, iptables and util-linux`;

function exec(file: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === "number" ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

/**
 * A sidecar'd workload in the injected namespace that no Service selects: every port of
 * it is "undeclared", so inbound traffic takes virtualInbound's passthrough chain. Its app
 * listens on every address (the passthrough dials the original destination, the
 * replica's own address, as Istio does) and answers with the address the connection came from.
 */
const LONER_MESH = `apiVersion: skiff.dev/v1alpha1
kind: Workload
metadata: { name: loner, namespace: shop }
spec:
  command: [${JSON.stringify(process.execPath)}, "-e", "require('node:http').createServer((q, s) => s.end('loner, called from ' + q.socket.remoteAddress)).listen(Number(process.env.PORT))"]
  ports: [{ name: http, containerPort: 9000 }]
  labels: { app: loner }
`;

const STRICT = `apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: { name: default, namespace: shop }
spec: { mtls: { mode: STRICT } }
`;

interface Status {
  replicas: { name: string; namespace: string; address?: string; readyCount: number; containers: number }[];
}

/** Requests the destination sidecar counted (istio_requests_total, reporter="destination"), from its 15090 on the replica's address. */
async function inboundRequests(address: string): Promise<number> {
  const res = await fetch(`http://${address}:15090/stats/prometheus`, { signal: AbortSignal.timeout(10_000) });
  let total = 0;
  for (const line of (await res.text()).split("\n")) {
    if (line.startsWith("istio_requests_total{") && line.includes('reporter="destination"')) total += Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return total;
}

test("netns mode: a two-replica Workload with a Service in its own namespace becomes ready (2/2), the gateway and a legacy workload reach both replicas, STRICT keeps them ready; nothing left behind", { skip, timeout: 120_000 }, async (t) => {
  await cleanupNetns(TAG);
  const dir = mkdtempSync(join(tmpdir(), "skiff-netns-shop-"));
  const shop = writeShop(dir, { replicas: { front: 2, back: 1 }, gateway: true });
  const legacy = join(dir, "legacy.yaml");
  writeFileSync(legacy, LEGACY_MESH);
  const loner = join(dir, "loner.yaml");
  writeFileSync(loner, LONER_MESH);
  const strict = join(dir, "strict.yaml");
  writeFileSync(strict, STRICT);
  const mesh = await startMesh(t, { dir, files: [shop, legacy, loner], args: ["--netns", "--wait", "60"], env: { SKIFF_NETNS_TAG: TAG, SKIFF_NETNS_SUBNET: SUBNET }, readyTimeoutMs: 75_000 });
  // Registered after startMesh's hook, so it runs after the mesh has stopped: a sweep in case it did not stop cleanly.
  t.after(() => cleanupNetns(TAG));

  const status = JSON.parse((await mesh.skiff("status", "-o", "json")).stdout) as Status;
  const fronts = status.replicas.filter((r) => r.namespace === "shop" && r.name.startsWith("front-"));
  const addresses = fronts.map((r) => r.address ?? "");

  await t.test("skiff status: both front replicas and back are 2/2 ready, each at its own address", async () => {
    assert.deepEqual(fronts.map((r) => [r.name, `${r.readyCount}/${r.containers}`]), [["front-0", "2/2"], ["front-1", "2/2"]], JSON.stringify(status));
    assert.ok(addresses.every((a) => a.startsWith("198.18.253.")) && new Set(addresses).size === 2, JSON.stringify(addresses));
    const text = (await mesh.skiff("status")).stdout;
    assert.match(text, /shop\s+front-0\s+front\s+2\/2/, text);
    assert.match(text, /shop\s+front-1\s+front\s+2\/2/, text);
    assert.match(text, /shop\s+back-0\s+back\s+2\/2/, text);
    // Why this mesh is the regression case: its app listens on loopback only.
    const listening = await exec("ip", ["netns", "exec", namespaceName(TAG, "front-0.shop"), "ss", "-ltnH", "sport", "= :8080"]);
    assert.match(listening.stdout, /127\.0\.0\.1:8080/, listening.stdout);
  });

  await t.test("through the gateway: 40 requests answered by front, both replicas take part (round robin)", async () => {
    const before = await Promise.all(addresses.map(inboundRequests));
    for (let i = 0; i < 40; i++) {
      const res = await fetch(`http://127.0.0.1:${mesh.port}/`, { signal: AbortSignal.timeout(10_000) });
      assert.equal(res.status, 200);
      assert.equal(await res.text(), "hello from front");
    }
    const served = (await Promise.all(addresses.map(inboundRequests))).map((n, i) => n - before[i]);
    assert.equal(served[0] + served[1], 40, `per replica: ${served.join(", ")}`);
    assert.ok(served.every((n) => n >= 10), `both replicas serve, per replica: ${served.join(", ")}`);
  });

  await t.test("from a workload without injection: front.shop by name, 30 calls spread over both replicas", async () => {
    const ns = namespaceName(TAG, "legacy-client-0.legacy");
    const before = await Promise.all(addresses.map(inboundRequests));
    for (let i = 0; i < 30; i++) {
      const r = await exec("ip", ["netns", "exec", ns, "curl", "-sS", "-m", "10", "http://front.shop/"]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, "hello from front");
    }
    const served = (await Promise.all(addresses.map(inboundRequests))).map((n, i) => n - before[i]);
    assert.equal(served[0] + served[1], 30, `per replica: ${served.join(", ")}`);
    // The VIP rule picks an endpoint at random: all 30 on one replica has odds 2^-29.
    assert.ok(served.every((n) => n > 0), `both replicas serve, per replica: ${served.join(", ")}`);
  });

  await t.test("inbound passthrough: a sidecar'd workload no Service selects is reached on its address from another namespace and from a sidecar'd workload, its sidecar dialling the app from 127.0.0.6", async () => {
    const lonerReplica = status.replicas.find((r) => r.namespace === "shop" && r.name === "loner-0");
    assert.ok(lonerReplica?.address, JSON.stringify(status));
    assert.equal(`${lonerReplica.readyCount}/${lonerReplica.containers}`, "2/2", "it has a sidecar");
    const url = `http://${lonerReplica.address}:9000/`;
    // From the legacy namespace: straight to loner's address, captured by its inbound rules.
    // From front-0's namespace (curl as root, so captured): front's sidecar's PassthroughCluster, then loner's inbound.
    for (const from of ["legacy-client-0.legacy", "front-0.shop"]) {
      for (let i = 0; i < 3; i++) {
        const r = await exec("ip", ["netns", "exec", namespaceName(TAG, from), "curl", "-sS", "-m", "10", url]);
        assert.equal(r.code, 0, `from ${from}: ${r.stderr}`);
        // The app sees its sidecar's bound source: the address capture exempts (a loop otherwise).
        assert.match(r.stdout, /^loner, called from (::ffff:)?127\.0\.0\.6$/, `from ${from}`);
      }
    }
  });

  await t.test("under STRICT mTLS the probes still pass (they skip the sidecar): every replica stays 2/2 and the gateway is served", async () => {
    const applied = await mesh.skiff("apply", "-f", strict);
    assert.equal(applied.code, 0, applied.stderr);
    // failureThreshold 3 at periodSeconds 1: a refused probe would show within ~3 s.
    await new Promise((r) => setTimeout(r, 4_500));
    const text = (await mesh.skiff("status")).stdout;
    for (const name of ["front-0", "front-1", "back-0"]) assert.match(text, new RegExp(`shop\\s+${name}\\s+\\S+\\s+2/2`), text);
    const res = await eventually(() => fetch(`http://127.0.0.1:${mesh.port}/`, { signal: AbortSignal.timeout(10_000) }), (r) => r.status === 200, 20);
    assert.equal(res.status, 200);
  });

  await t.test("the probes' route_localnet is fenced: the namespace drops packets for 127.0.0.0/8 that arrive from outside", async () => {
    const ns = namespaceName(TAG, "front-0.shop");
    const sysctl = await exec("ip", ["netns", "exec", ns, "cat", "/proc/sys/net/ipv4/conf/all/route_localnet"]);
    assert.equal(sysctl.stdout.trim(), "1");
    const raw = await exec("ip", ["netns", "exec", ns, "iptables-save", "-t", "raw"]);
    assert.match(raw.stdout, /-A PREROUTING -d 127\.0\.0\.0\/8 ! -i lo -j DROP/, raw.stdout);
  });

  await t.test("stopping leaves no namespace, link, iptables chain or /etc/netns entry", async () => {
    assert.equal(await mesh.stop(), 0, mesh.output());
    assert.deepEqual(await listNetns(TAG), { namespaces: [], links: [], iptablesChains: [], etcDirs: [] });
  });
});
