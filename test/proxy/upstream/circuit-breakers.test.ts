// Circuit breakers against a real slow upstream: N concurrent requests, count overflows.
import { test } from "node:test";
import assert from "node:assert/strict";
import { ClusterManager } from "../../../src/proxy/upstream/index.ts";
import type { EnvoyJson, Host, UpstreamCluster, UpstreamHttpResult } from "../../../src/proxy/upstream/index.ts";
import { endpoint, startHttp1, staticCluster } from "./helpers.ts";

/** A server that holds every request until `releaseAll()`. */
async function slowServer() {
  const held: Array<() => void> = [];
  const server = await startHttp1("slow", (_req, res) => held.push(() => res.end("done")));
  return { server, held, releaseAll: () => held.splice(0).forEach((f) => f()) };
}

function thresholds(t: EnvoyJson): EnvoyJson {
  return { circuit_breakers: { thresholds: [{ priority: "DEFAULT", ...t }] } };
}

/** Start a GET that drains its response body as soon as it arrives (as the router would). */
function send(c: UpstreamCluster, host: Host): Promise<UpstreamHttpResult> {
  return c.httpRequest(host, { method: "GET", path: "/", authority: "t", headers: {} }).then((r) => {
    if (r.kind === "response") r.body.resume();
    return r;
  });
}

const settle = (results: Array<Promise<UpstreamHttpResult>>) => Promise.all(results);

async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
  assert.ok(cond(), "condition not reached");
}

test("max_connections + max_pending_requests: extra requests queue, beyond the queue they overflow", async () => {
  const { server, held, releaseAll } = await slowServer();
  const cm = new ClusterManager();
  cm.applyClusters([staticCluster("c", [endpoint(server.port)], thresholds({ max_connections: 2, max_pending_requests: 1 }))]);
  const c = cm.get("c")!;
  try {
    const host = c.selectHost({})!;
    const inflight = Array.from({ length: 5 }, () => send(c, host));
    await until(() => held.length === 2);
    assert.equal(c.stats.upstream_rq_pending_active, 1);
    assert.equal(c.stats.upstream_rq_pending_overflow, 2);
    releaseAll();
    await until(() => held.length === 1); // the queued request got a freed connection
    releaseAll();
    const results = await settle(inflight);
    const overflows = results.filter((r) => r.kind === "overflow");
    assert.equal(overflows.length, 2);
    assert.ok(overflows.every((r) => r.kind === "overflow" && r.reason === "max_pending_requests"));
    assert.equal(results.filter((r) => r.kind === "response").length, 3);
    assert.equal(server.connections, 2);
    await until(() => c.stats.upstream_rq_active === 0);
    assert.equal(c.stats.upstream_rq_pending_active, 0);
  } finally {
    releaseAll();
    await cm.close();
    await server.close();
  }
});

test("max_requests: requests beyond the limit overflow immediately", async () => {
  const { server, held, releaseAll } = await slowServer();
  const cm = new ClusterManager();
  cm.applyClusters([staticCluster("c", [endpoint(server.port)], thresholds({ max_requests: 3 }))]);
  const c = cm.get("c")!;
  try {
    const host = c.selectHost({})!;
    const inflight = Array.from({ length: 7 }, () => send(c, host));
    await until(() => held.length === 3);
    releaseAll();
    const results = await settle(inflight);
    assert.deepEqual(results.map((r) => (r.kind === "overflow" ? r.reason : r.kind)).sort(), ["max_requests", "max_requests", "max_requests", "max_requests", "response", "response", "response"]);
    // After the burst, capacity is back.
    await until(() => c.stats.upstream_rq_active === 0);
    const again = send(c, host);
    await until(() => held.length === 1);
    releaseAll();
    assert.equal((await again).kind, "response");
  } finally {
    releaseAll();
    await cm.close();
    await server.close();
  }
});

test("max_retries: retry slots run out, and come back when released", () => {
  const cm = new ClusterManager();
  cm.applyClusters([staticCluster("c", [endpoint(1)], thresholds({ max_retries: 2 }))]);
  const c = cm.get("c")!;
  const a = c.acquireRetry();
  const b = c.acquireRetry();
  assert.ok(a && b);
  assert.equal(c.acquireRetry(), null);
  assert.equal(c.stats.upstream_rq_retry_overflow, 1);
  a();
  a(); // releasing twice frees only one slot
  assert.ok(c.acquireRetry());
  assert.equal(c.acquireRetry(), null);
  assert.equal(c.stats.upstream_rq_retry, 3);
});

test("default thresholds are Envoy's (1024 connections/pending/requests, 3 retries)", () => {
  const cm = new ClusterManager();
  cm.applyClusters([staticCluster("c", [endpoint(1)])]);
  assert.deepEqual(cm.dump()[0].circuitBreakers, { max_connections: 1024, max_pending_requests: 1024, max_requests: 1024, max_retries: 3 });
});

test("requests queued for a host that leaves the cluster fail as connect failures (UF) instead of hanging", async () => {
  const { server, held, releaseAll } = await slowServer();
  const cm = new ClusterManager();
  cm.applyClusters([{ name: "e", type: "EDS", eds_cluster_config: { eds_config: { ads: {} } }, ...thresholds({ max_connections: 1 }) }]);
  cm.applyEndpoints([{ cluster_name: "e", endpoints: [{ lb_endpoints: [endpoint(server.port)] }] }]);
  const c = cm.get("e")!;
  try {
    const host = c.selectHost({})!;
    const first = send(c, host);
    const queued = send(c, host);
    await until(() => held.length === 1 && c.stats.upstream_rq_pending_active === 1);
    cm.applyEndpoints([{ cluster_name: "e", endpoints: [] }]);
    const r = await queued;
    assert.equal(r.kind === "failure" && r.failure, "connect");
    assert.equal(r.kind === "failure" && r.responseFlag, "UF");
    assert.equal(c.stats.upstream_rq_pending_active, 0);
    releaseAll();
    await first;
  } finally {
    releaseAll();
    await cm.close();
    await server.close();
  }
});
