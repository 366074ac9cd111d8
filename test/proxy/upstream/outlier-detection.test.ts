// Outlier detection against real upstreams, with an injected clock and interval timer so
// ejection times are exact and the tests never sleep.
import { test } from "node:test";
import assert from "node:assert/strict";
import { ClusterManager } from "../../../src/proxy/upstream/index.ts";
import type { EnvoyJson, Host, UpstreamCluster } from "../../../src/proxy/upstream/index.ts";
import { closedPort, endpoint, startHttp1, staticCluster } from "./helpers.ts";
import type { TestServer } from "./helpers.ts";

interface Harness {
  cm: ClusterManager;
  c: UpstreamCluster;
  advance(ms: number): void;
}

/** A cluster whose clock only moves with `advance`, which also fires the interval sweeps due. */
function harness(ports: number[], outlier: EnvoyJson): Harness {
  let now = 1_000_000;
  const timers: Array<{ fn: () => void; every: number; next: number }> = [];
  const cm = new ClusterManager({
    now: () => now,
    random: () => 0.5,
    setInterval: (fn, every) => {
      const t = { fn, every, next: now + every };
      timers.push(t);
      return t;
    },
    clearInterval: (h) => {
      const i = timers.indexOf(h as (typeof timers)[number]);
      if (i >= 0) timers.splice(i, 1);
    },
  });
  const r = cm.applyClusters([staticCluster("c", ports.map((p) => endpoint(p)), { outlier_detection: outlier })]);
  assert.deepEqual(r.errors, []);
  return {
    cm,
    c: cm.get("c")!,
    advance(ms: number) {
      const target = now + ms;
      for (;;) {
        const due = timers.filter((t) => t.next <= target).sort((a, b) => a.next - b.next)[0];
        if (!due) break;
        now = due.next;
        due.next += due.every;
        due.fn();
      }
      now = target;
    },
  };
}

async function hit(c: UpstreamCluster, host: Host): Promise<number | string> {
  const r = await c.httpRequest(host, { method: "GET", path: "/", authority: "t", headers: {} });
  if (r.kind === "response") {
    r.body.resume();
    return r.status;
  }
  return r.kind === "failure" ? r.failure : r.kind;
}

function hostOn(c: UpstreamCluster, port: number): Host {
  return c.hosts().find((h) => h.port === port)!;
}

async function servers(statuses: number[]): Promise<{ list: TestServer[]; status: number[] }> {
  const status = [...statuses];
  const list = await Promise.all(status.map((_, i) => startHttp1(`s${i}`, (req, res) => {
    req.resume();
    res.statusCode = status[i];
    res.end();
  })));
  return { list, status };
}

test("consecutive 5xx ejects the host; it returns after base_ejection_time, then stays out longer", async () => {
  const { list, status } = await servers([503, 200, 200]);
  const h = harness(list.map((s) => s.port), { consecutive_5xx: 3, interval: "10s", base_ejection_time: "30s", max_ejection_percent: 100 });
  const bad = hostOn(h.c, list[0].port);
  try {
    for (let i = 0; i < 3; i++) assert.equal(await hit(h.c, bad), 503);
    assert.equal(bad.ejected, true);
    assert.equal(h.c.stats.outlier_detection_ejections_active, 1);
    assert.equal(h.c.stats.outlier_detection_ejections_enforced_consecutive_5xx, 1);
    for (let i = 0; i < 30; i++) assert.notEqual(h.c.selectHost({})!.port, list[0].port);

    h.advance(29_000);
    assert.equal(bad.ejected, true, "still ejected before 30 s");
    h.advance(1_000);
    assert.equal(bad.ejected, false, "back after 30 s (at the sweep)");
    assert.equal(h.c.stats.outlier_detection_ejections_active, 0);

    // Second ejection lasts 2 × base_ejection_time.
    for (let i = 0; i < 3; i++) await hit(h.c, bad);
    assert.equal(bad.ejected, true);
    h.advance(50_000);
    assert.equal(bad.ejected, true, "second ejection lasts 60 s");
    h.advance(10_000);
    assert.equal(bad.ejected, false);

    // A success resets the consecutive counter.
    status[0] = 503;
    await hit(h.c, bad);
    await hit(h.c, bad);
    status[0] = 200;
    await hit(h.c, bad);
    status[0] = 503;
    await hit(h.c, bad);
    await hit(h.c, bad);
    assert.equal(bad.ejected, false);
  } finally {
    await h.cm.close();
    await Promise.all(list.map((s) => s.close()));
  }
});

test("max_ejection_percent caps how many hosts are ejected", async () => {
  const { list } = await servers([500, 500, 500, 500]);
  const h = harness(list.map((s) => s.port), { consecutive_5xx: 2, max_ejection_percent: 50 });
  try {
    for (const s of list) for (let i = 0; i < 2; i++) await hit(h.c, hostOn(h.c, s.port));
    assert.equal(h.c.hosts().filter((x) => x.ejected).length, 2);
    assert.equal(h.c.stats.outlier_detection_ejections_overflow, 2);
  } finally {
    await h.cm.close();
    await Promise.all(list.map((s) => s.close()));
  }
});

test("consecutive gateway failures (502/503/504 and connect failures) eject when enforced", async () => {
  const { list } = await servers([502, 200]);
  const dead = await closedPort();
  const h = harness([list[0].port, list[1].port, dead], {
    consecutive_5xx: 100, consecutive_gateway_failure: 2, enforcing_consecutive_gateway_failure: 100, max_ejection_percent: 100,
  });
  try {
    const gw = hostOn(h.c, list[0].port);
    await hit(h.c, gw);
    assert.equal(gw.ejected, false);
    await hit(h.c, gw);
    assert.equal(gw.ejected, true);
    const deadHost = hostOn(h.c, dead);
    assert.equal(await hit(h.c, deadHost), "connect");
    assert.equal(await hit(h.c, deadHost), "connect");
    assert.equal(deadHost.ejected, true);
    assert.equal(h.c.stats.outlier_detection_ejections_enforced_consecutive_gateway_failure, 2);
  } finally {
    await h.cm.close();
    await Promise.all(list.map((s) => s.close()));
  }
});

test("enforcing_consecutive_5xx 0 detects but does not eject; the router's timeouts count as failures", async () => {
  const { list } = await servers([500, 200]);
  const h = harness(list.map((s) => s.port), { consecutive_5xx: 2, enforcing_consecutive_5xx: 0, max_ejection_percent: 100 });
  try {
    const bad = hostOn(h.c, list[0].port);
    await hit(h.c, bad);
    await hit(h.c, bad);
    assert.equal(bad.ejected, false);
    assert.equal(h.c.stats.outlier_detection_ejections_detected_consecutive_5xx, 1);
  } finally {
    await h.cm.close();
    await Promise.all(list.map((s) => s.close()));
  }
  const t = harness([1, 2], { consecutive_5xx: 2, max_ejection_percent: 100 });
  const host = t.c.hosts()[0];
  t.c.reportOutcome(host, { localFailure: "timeout" });
  t.c.reportOutcome(host, { localFailure: "timeout" });
  assert.equal(host.ejected, true);
  assert.equal(host.stats.rq_timeout, 2);
  await t.cm.close();
});

test("split_external_local_origin_errors: connect failures eject by consecutive_local_origin_failure, not as 5xx", async () => {
  const dead = await closedPort();
  const { list } = await servers([503]);
  const h = harness([dead, list[0].port], {
    split_external_local_origin_errors: true, consecutive_local_origin_failure: 3, consecutive_5xx: 2,
    consecutive_gateway_failure: 2, enforcing_consecutive_gateway_failure: 100, max_ejection_percent: 100,
  });
  try {
    const deadHost = hostOn(h.c, dead);
    await hit(h.c, deadHost);
    await hit(h.c, deadHost);
    assert.equal(deadHost.ejected, false, "two local failures are not two 5xx in split mode");
    await hit(h.c, deadHost);
    assert.equal(deadHost.ejected, true);
    assert.equal(h.c.stats.outlier_detection_ejections_enforced_consecutive_local_origin_failure, 1);
    const five = hostOn(h.c, list[0].port);
    await hit(h.c, five);
    await hit(h.c, five);
    assert.equal(five.ejected, true, "real 503s still count as gateway failures");
  } finally {
    await h.cm.close();
    await Promise.all(list.map((s) => s.close()));
  }
});
