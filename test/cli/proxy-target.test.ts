// The proxy resolver against a state file as `skiff up` writes it: every form an Istio
// user types finds the proxy `skiff status` shows, and a wrong name says what would work.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readState, type MeshState, type ProcessRecord } from "../../src/runtime/run-dir.ts";
import { writeMeshState } from "./helpers/mesh-state.ts";
import { isAdminAddress, matchProcesses, parseProxyQuery, ProxyTargetError, resolveProxy } from "../../src/cli/proxy-target.ts";

function proxy(name: string, workload: string, namespace: string, admin: string): ProcessRecord[] {
  const app: ProcessRecord = { name, role: "app", workload, namespace, logFile: `/logs/${namespace}.${name}.log` };
  const sidecar: ProcessRecord = {
    name,
    role: "sidecar",
    workload,
    namespace,
    logFile: `/logs/${namespace}.${name}.proxy.log`,
    adminAddress: admin,
    nodeId: `sidecar~198.18.0.9~${name}.${namespace}~${namespace}.svc.cluster.local`,
  };
  return [app, sidecar];
}

/** A mesh like the sentiment demo's, with two sa-logic replicas (10 sorts after 2), a legacy app, and a name in two namespaces. */
function meshState(t: { after: (fn: () => void) => void }): MeshState {
  const dir = mkdtempSync(join(tmpdir(), "skiff-proxy-target-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeMeshState(dir, {
    gatewayAdminPort: 41000,
    processes: [
      {
        name: "istio-ingressgateway",
        role: "gateway",
        workload: "istio-ingressgateway",
        namespace: "istio-system",
        logFile: "/logs/gw.log",
        adminAddress: "127.0.0.1:41000",
        nodeId: "router~127.0.0.1~istio-ingressgateway.istio-system~istio-system.svc.cluster.local",
      },
      ...proxy("sa-webapp-0", "sa-webapp", "demo", "127.0.0.1:41001"),
      ...proxy("sa-logic-10", "sa-logic", "demo", "127.0.0.1:41010"),
      ...proxy("sa-logic-2", "sa-logic", "demo", "127.0.0.1:41002"),
      ...proxy("cache-0", "cache", "demo", "198.18.0.5:15000"),
      ...proxy("cache-0", "cache", "other", "198.18.0.6:15000"),
      { name: "legacy-0", role: "app", workload: "legacy", namespace: "demo", logFile: "/logs/legacy.log" },
    ],
  });
  const state = readState(dir);
  assert.ok(state, "the state file reads back");
  return state;
}

test("a replica as skiff status shows it, with or without .namespace and pod/, reaches that replica's admin address", (t) => {
  const state = meshState(t);
  for (const arg of ["sa-webapp-0", "sa-webapp-0.demo", "pod/sa-webapp-0", "pod/sa-webapp-0.demo"]) {
    const target = resolveProxy(arg, state);
    assert.equal(target.adminUrl, "http://127.0.0.1:41001", arg);
    assert.equal(target.label, "sa-webapp-0.demo", arg);
    assert.equal(target.note, undefined, `${arg} names one proxy`);
  }
  assert.equal(resolveProxy("sa-logic-2", state).adminUrl, "http://127.0.0.1:41002");
});

test("deploy/WORKLOAD and a bare workload name pick the first replica and name the others", (t) => {
  const state = meshState(t);
  for (const arg of ["deploy/sa-logic", "deployment/sa-logic.demo", "sa-logic"]) {
    const target = resolveProxy(arg, state);
    assert.equal(target.label, "sa-logic-2.demo", `${arg}: replica order is numeric, so -2 comes before -10`);
    assert.equal(target.adminUrl, "http://127.0.0.1:41002");
    assert.match(target.note ?? "", /2 proxies \(sa-logic-2\.demo, sa-logic-10\.demo\); showing sa-logic-2\.demo/);
  }
  assert.equal(resolveProxy("deploy/sa-webapp", state).note, undefined, "a one-replica workload needs no note");
});

test("the gateway by its name, its Istio short names, and its node id", (t) => {
  const state = meshState(t);
  for (const arg of ["istio-ingressgateway", "istio-ingressgateway.istio-system", "ingressgateway", "deploy/istio-ingressgateway", "router~127.0.0.1~istio-ingressgateway.istio-system~istio-system.svc.cluster.local"]) {
    assert.equal(resolveProxy(arg, state).adminUrl, "http://127.0.0.1:41000", arg);
  }
});

test("the node id as skiff proxy-status prints it finds the sidecar, in netns mode on the replica's own address", (t) => {
  const state = meshState(t);
  const target = resolveProxy("sidecar~198.18.0.9~cache-0.other~other.svc.cluster.local", state);
  assert.equal(target.adminUrl, "http://198.18.0.6:15000");
  assert.equal(target.label, "cache-0.other");
});

test("a name in two namespaces is refused with both choices; -n or .namespace picks one", (t) => {
  const state = meshState(t);
  assert.throws(() => resolveProxy("cache-0", state), (err: Error) => {
    assert.ok(err instanceof ProxyTargetError);
    assert.match(err.message, /several namespaces \(demo, other\); say which: cache-0\.demo, cache-0\.other/);
    return true;
  });
  assert.equal(resolveProxy("cache-0", state, { namespace: "other" }).adminUrl, "http://198.18.0.6:15000");
  assert.equal(resolveProxy("deploy/cache.demo", state).adminUrl, "http://198.18.0.5:15000");
});

test("an unknown name lists the mesh's proxies and skiff status; an app without sidecar says so", (t) => {
  const state = meshState(t);
  assert.throws(() => resolveProxy("sa-frontend", state), (err: Error) => {
    assert.match(err.message, /no proxy named "sa-frontend" in the running mesh/);
    assert.match(err.message, /proxies: cache-0\.demo, cache-0\.other, istio-ingressgateway\.istio-system, sa-logic-2\.demo, sa-logic-10\.demo, sa-webapp-0\.demo \(see `skiff status`\)/);
    return true;
  });
  assert.throws(() => resolveProxy("sa-webapp-0", state, { namespace: "other" }), /no proxy named "sa-webapp-0" in namespace "other"/);
  assert.throws(() => resolveProxy("legacy", state), /"legacy" runs without a sidecar/);
  assert.throws(() => resolveProxy("svc/sa-webapp", state), /unknown kind "svc\/"; name a proxy as deploy\/WORKLOAD/);
});

test("an admin address still works, with or without a mesh; a name without a mesh says to start one", (t) => {
  const state = meshState(t);
  assert.equal(resolveProxy("15000", undefined).adminUrl, "http://127.0.0.1:15000");
  assert.equal(resolveProxy("127.0.0.1:15001", undefined).adminUrl, "http://127.0.0.1:15001");
  assert.equal(resolveProxy("http://127.0.0.1:15002/", state).adminUrl, "http://127.0.0.1:15002");
  assert.equal(resolveProxy("[::1]:15003", undefined).adminUrl, "http://[::1]:15003");
  assert.throws(() => resolveProxy("sa-webapp-0", undefined), /no mesh is running to look up "sa-webapp-0" in; start one with `skiff up -f MESH.yaml`, or give the proxy's admin address/);
});

test("a state written before admin addresses were recorded: the gateway still resolves, a sidecar asks for a restart", (t) => {
  const state = meshState(t);
  const old: MeshState = { ...state, processes: state.processes.map(({ adminAddress: _a, nodeId: _n, ...rest }) => rest) };
  assert.equal(resolveProxy("ingressgateway", old).adminUrl, "http://127.0.0.1:41000");
  assert.throws(() => resolveProxy("sa-webapp-0", old), /records no admin address for sa-webapp-0\.demo .*restart `skiff up`/);
});

test("names are parsed as istioctl's forms; a node id's colons are not an address", () => {
  assert.deepEqual(parseProxyQuery("deploy/sa-webapp.demo"), { by: "workload", name: "sa-webapp", namespace: "demo" });
  assert.deepEqual(parseProxyQuery("sa-webapp-0", "demo"), { by: "any", name: "sa-webapp-0", namespace: "demo" });
  assert.equal(isAdminAddress("sidecar~fd00::1~a-0.demo~demo.svc.cluster.local"), false);
  assert.equal(isAdminAddress("sa-webapp-0.demo"), false);
  assert.equal(isAdminAddress("localhost:15000"), true);
});

test("matchProcesses finds every replica's app for skiff logs, in replica order", (t) => {
  const state = meshState(t);
  const apps = matchProcesses(parseProxyQuery("deploy/sa-logic"), state.processes, ["app"]);
  assert.deepEqual(apps.map((p) => `${p.role} ${p.name}`), ["app sa-logic-2", "app sa-logic-10"]);
});
