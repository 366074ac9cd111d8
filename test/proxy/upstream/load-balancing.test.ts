// Load balancing policies through the ClusterManager, as the router uses them.
import { test } from "node:test";
import assert from "node:assert/strict";
import { ClusterManager, hashKey } from "../../../src/proxy/upstream/index.ts";
import type { EnvoyJson, UpstreamCluster } from "../../../src/proxy/upstream/index.ts";
import { distribution, endpoint, get, seededRandom, startHttp1, staticCluster } from "./helpers.ts";

function cluster(lbEndpoints: EnvoyJson[], extra: EnvoyJson = {}, random = seededRandom(1)): UpstreamCluster {
  const cm = new ClusterManager({ random });
  const r = cm.applyClusters([staticCluster("c", lbEndpoints, extra)]);
  assert.deepEqual(r.errors, []);
  return cm.get("c")!;
}

test("ROUND_ROBIN sends consecutive requests to each real upstream in turn", async () => {
  const servers = await Promise.all(["a", "b", "c"].map((n) => startHttp1(n)));
  try {
    const c = cluster(servers.map((s) => endpoint(s.port)));
    const bodies: string[] = [];
    for (let i = 0; i < 6; i++) bodies.push((await get(c)).body!);
    assert.deepEqual(bodies, ["a", "b", "c", "a", "b", "c"]);
  } finally {
    await Promise.all(servers.map((s) => s.close()));
  }
});

test("ROUND_ROBIN honours load_balancing_weight and interleaves (smooth weighted)", () => {
  const c = cluster([endpoint(1001, { load_balancing_weight: 5 }), endpoint(1002, { load_balancing_weight: 1 }), endpoint(1003, { load_balancing_weight: 1 })]);
  const picks = Array.from({ length: 7 }, () => c.selectHost({})!.port);
  assert.equal(picks.filter((p) => p === 1001).length, 5);
  assert.equal(picks.filter((p) => p === 1002).length, 1);
  assert.equal(picks.filter((p) => p === 1003).length, 1);
  // Smooth: the heavy host never takes more than 3 in a row within a cycle of 7.
  assert.notDeepEqual(picks.slice(0, 5), [1001, 1001, 1001, 1001, 1001]);
  const d = distribution(c, 700);
  assert.deepEqual([d.get(1001), d.get(1002), d.get(1003)], [500, 100, 100]);
});

test("ROUND_ROBIN with locality_weighted_lb_config splits by locality weight", () => {
  const cm = new ClusterManager();
  cm.applyClusters([{
    name: "loc", type: "STATIC", connect_timeout: "1s", common_lb_config: { locality_weighted_lb_config: {} },
    load_assignment: { cluster_name: "loc", endpoints: [
      { locality: { zone: "a" }, load_balancing_weight: 3, lb_endpoints: [endpoint(2001), endpoint(2002)] },
      { locality: { zone: "b" }, load_balancing_weight: 1, lb_endpoints: [endpoint(2003)] },
    ] },
  }]);
  const d = distribution(cm.get("loc")!, 800);
  assert.equal((d.get(2001) ?? 0) + (d.get(2002) ?? 0), 600);
  assert.equal(d.get(2003), 200);
});

test("LEAST_REQUEST prefers the host with fewer active requests (power of two choices)", async () => {
  const release: Array<() => void> = [];
  const slow = await startHttp1("slow", (_req, res) => release.push(() => res.end("slow")));
  const fast = await startHttp1("fast");
  try {
    const c = cluster([endpoint(slow.port), endpoint(fast.port)], { lb_policy: "LEAST_REQUEST", least_request_lb_config: { choice_count: 5 } });
    const slowHost = c.hosts().find((h) => h.port === slow.port)!;
    // Occupy the slow host with 3 in-flight requests.
    const pending = [1, 2, 3].map(() => c.httpRequest(slowHost, { method: "GET", path: "/", authority: "t", headers: {} }));
    while (slow.requests < 3) await new Promise((r) => setTimeout(r, 5));
    assert.equal(slowHost.stats.rq_active, 3);
    const d = distribution(c, 200);
    // With 5 choices out of 2 hosts the idle one is drawn almost always; only an all-slow draw
    // ((1/2)^5 per pick with the seeded source) picks the busy host.
    assert.ok((d.get(fast.port) ?? 0) >= 180, `fast got ${d.get(fast.port)}`);
    for (const r of release) r();
    for (const p of await Promise.all(pending)) if (p.kind === "response") p.body.resume();
  } finally {
    await Promise.all([slow.close(), fast.close()]);
  }
});

test("LEAST_REQUEST with unequal weights follows the weights when idle", () => {
  const c = cluster([endpoint(1001, { load_balancing_weight: 3 }), endpoint(1002, { load_balancing_weight: 1 })], { lb_policy: "LEAST_REQUEST" });
  const d = distribution(c, 400);
  assert.deepEqual([d.get(1001), d.get(1002)], [300, 100]);
});

test("RANDOM spreads roughly evenly (seeded source, bounded tolerance)", () => {
  const c = cluster([endpoint(1001), endpoint(1002), endpoint(1003), endpoint(1004)], { lb_policy: "RANDOM" }, seededRandom(42));
  const d = distribution(c, 4000);
  for (const port of [1001, 1002, 1003, 1004]) assert.ok(Math.abs((d.get(port) ?? 0) - 1000) < 150, `${port}: ${d.get(port)}`);
});

for (const policy of ["RING_HASH", "MAGLEV"] as const) {
  test(`${policy}: the same hash always picks the same host, different keys spread`, () => {
    const c = cluster([endpoint(1001), endpoint(1002), endpoint(1003)], { lb_policy: policy });
    const seen = new Map<number, number>();
    for (let user = 0; user < 300; user++) {
      const hash = hashKey(`user-${user}`);
      const first = c.selectHost({ hash })!.port;
      for (let i = 0; i < 3; i++) assert.equal(c.selectHost({ hash })!.port, first);
      seen.set(first, (seen.get(first) ?? 0) + 1);
    }
    for (const port of [1001, 1002, 1003]) assert.ok((seen.get(port) ?? 0) > 50, `${policy} ${port}: ${seen.get(port)}`);
  });

  test(`${policy}: removing one host only moves the keys that were on it`, () => {
    const cm = new ClusterManager();
    const eps = [endpoint(1001), endpoint(1002), endpoint(1003), endpoint(1004)];
    cm.applyClusters([staticCluster("c", eps, { lb_policy: policy })]);
    const before = Array.from({ length: 400 }, (_, i) => cm.get("c")!.selectHost({ hash: hashKey(`k${i}`) })!.port);
    cm.applyClusters([staticCluster("c", eps.slice(0, 3), { lb_policy: policy })]);
    const after = Array.from({ length: 400 }, (_, i) => cm.get("c")!.selectHost({ hash: hashKey(`k${i}`) })!.port);
    let moved = 0;
    before.forEach((p, i) => {
      if (p !== 1004 && after[i] !== p) moved++;
    });
    // Both are only approximately minimal: Maglev refills the table, and the ring is rescaled
    // to minimum_ring_size (each remaining host gets more points), so a few other keys move.
    // A naive modulo hash would move about 3/4 of the 300 keys not on the removed host.
    assert.ok(moved <= 60, `${moved} keys moved`);
    assert.ok(after.every((p) => p !== 1004));
  });

  test(`${policy}: weights give proportional shares of the keys`, () => {
    const c = cluster([endpoint(1001, { load_balancing_weight: 3 }), endpoint(1002, { load_balancing_weight: 1 })], { lb_policy: policy });
    let heavy = 0;
    for (let i = 0; i < 2000; i++) if (c.selectHost({ hash: hashKey(`w${i}`) })!.port === 1001) heavy++;
    assert.ok(heavy > 1300 && heavy < 1700, `heavy got ${heavy} of 2000 (expected ~1500)`);
  });
}

test("hashKey is xxHash64 with seed 0, as Envoy hashes", () => {
  // Reference value of XXH64("foo", 0) from the xxHash specification's implementation.
  assert.equal(hashKey("foo"), 0x33bf00a859c4ba3fn);
});

test("unhealthy and draining endpoints get no traffic while enough hosts are healthy", () => {
  const c = cluster([endpoint(1001), endpoint(1002), endpoint(1003, { health_status: "UNHEALTHY" }), endpoint(1004, { health_status: "DRAINING" })], { common_lb_config: { healthy_panic_threshold: { value: 50 } } });
  const d = distribution(c, 100);
  assert.deepEqual([...d.keys()].sort(), [1001, 1002]);
});

test("panic threshold: below it, traffic goes to all hosts; threshold 0 disables panic", () => {
  const eps = [endpoint(1001), endpoint(1002, { health_status: "UNHEALTHY" }), endpoint(1003, { health_status: "UNHEALTHY" })];
  const panicking = distribution(cluster(eps), 90);
  assert.deepEqual([...panicking.keys()].sort(), [1001, 1002, 1003]);
  const noPanic = distribution(cluster(eps, { common_lb_config: { healthy_panic_threshold: { value: 0 } } }), 90);
  assert.deepEqual([...noPanic.keys()], [1001]);
  const none = cluster([endpoint(1001, { health_status: "UNHEALTHY" })], { common_lb_config: { healthy_panic_threshold: 0 } });
  assert.equal(none.selectHost({}), null);
});

test("previous_hosts: a retry avoids hosts already tried when another exists", () => {
  for (const policy of ["ROUND_ROBIN", "RANDOM", "RING_HASH", "MAGLEV", "LEAST_REQUEST"]) {
    const c = cluster([endpoint(1001), endpoint(1002)], { lb_policy: policy });
    const hash = hashKey("x");
    for (let i = 0; i < 20; i++) {
      const first = c.selectHost({ hash })!;
      const second = c.selectHost({ hash, previousHosts: new Set([first]) })!;
      assert.notEqual(second.port, first.port, policy);
    }
  }
});

test("lower priority takes traffic only when the higher priority has no healthy host", () => {
  const cm = new ClusterManager();
  const la = (p0Health: string) => ({ cluster_name: "p", endpoints: [
    { priority: 0, lb_endpoints: [endpoint(1001, { health_status: p0Health })] },
    { priority: 1, lb_endpoints: [endpoint(1002)] },
  ] });
  cm.applyClusters([{ name: "p", type: "EDS", eds_cluster_config: { eds_config: { ads: {} } } }]);
  cm.applyEndpoints([la("HEALTHY")]);
  assert.deepEqual([...distribution(cm.get("p")!, 10).keys()], [1001]);
  cm.applyEndpoints([la("UNHEALTHY")]);
  assert.deepEqual([...distribution(cm.get("p")!, 10).keys()], [1002]);
});

test("slow start: a newly added host ramps up over slow_start_window (injected clock)", () => {
  let now = 0;
  const cm = new ClusterManager({ now: () => now });
  cm.applyClusters([{
    name: "s", type: "EDS", eds_cluster_config: { eds_config: { ads: {} } },
    round_robin_lb_config: { slow_start_config: { slow_start_window: "10s", aggression: { default_value: 1, runtime_key: "x" }, min_weight_percent: { value: 10 } } },
  }]);
  cm.applyEndpoints([{ cluster_name: "s", endpoints: [{ lb_endpoints: [endpoint(1001), endpoint(1002)] }] }]);
  now = 60_000; // the first hosts are long past their window
  cm.applyEndpoints([{ cluster_name: "s", endpoints: [{ lb_endpoints: [endpoint(1001), endpoint(1002), endpoint(1003)] }] }]);
  const c = cm.get("s")!;
  const share = () => (distribution(c, 2100).get(1003) ?? 0) / 2100;
  // Just added: weight × max(10 %, (1 s / 10 s)^1) = 0.1 → 0.1 / 2.1 of the picks.
  assert.ok(Math.abs(share() - 0.1 / 2.1) < 0.01, `share ${share()}`);
  now += 5_000; // half-way: 0.5 / 2.5
  assert.ok(Math.abs(share() - 0.2) < 0.01, `share ${share()}`);
  now += 5_000; // window over: a full third
  assert.ok(Math.abs(share() - 1 / 3) < 0.01, `share ${share()}`);
});
