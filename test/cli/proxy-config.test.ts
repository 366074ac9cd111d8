// `skiff proxy-config KIND PROXY` as a user runs it: a run directory holding a mesh's
// state (as `skiff up` writes it, owned by this live test process) whose proxies are small
// admin servers on loopback, each answering /config_dump with a cluster named after itself.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ProcessRecord } from "../../src/runtime/run-dir.ts";
import { writeMeshState } from "./helpers/mesh-state.ts";

const bin = new URL("../../bin/skiff.js", import.meta.url).pathname;

/** An admin API whose only cluster is outbound|80||<marker>.demo.svc.cluster.local. */
async function fakeAdmin(t: { after: (fn: () => void) => void }, marker: string): Promise<number> {
  const dump = {
    configs: [
      { "@type": "type.googleapis.com/envoy.admin.v3.ClustersConfigDump", dynamic_active_clusters: [{ cluster: { name: `outbound|80||${marker}.demo.svc.cluster.local`, type: "EDS" } }] },
      { "@type": "type.googleapis.com/envoy.admin.v3.ListenersConfigDump" },
    ],
  };
  const server: Server = createServer((req, res) => {
    if (req.url !== "/config_dump") return void res.writeHead(404).end();
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(dump));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.after(() => server.close());
  return (server.address() as AddressInfo).port;
}

function skiff(args: string[], runDir: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    // Async: the fake admin servers live in this process and must keep answering.
    execFile(process.execPath, [bin, "proxy-config", ...args], { env: { ...process.env, SKIFF_RUN_DIR: runDir }, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

test("proxy-config finds a skiff up proxy by replica, deploy/ and gateway name, and keeps admin addresses", async (t) => {
  const runDir = mkdtempSync(join(tmpdir(), "skiff-proxy-config-"));
  const noMesh = mkdtempSync(join(tmpdir(), "skiff-proxy-config-none-"));
  t.after(() => {
    rmSync(runDir, { recursive: true, force: true });
    rmSync(noMesh, { recursive: true, force: true });
  });
  const [gw, webapp, logic0, logic1] = await Promise.all(["gateway-marker", "webapp-marker", "logic0-marker", "logic1-marker"].map((m) => fakeAdmin(t, m)));
  const sidecar = (name: string, workload: string, port: number): ProcessRecord => ({ name, role: "sidecar", workload, namespace: "demo", logFile: "/dev/null", adminAddress: `127.0.0.1:${port}` });
  writeMeshState(runDir, {
    gatewayAdminPort: gw,
    processes: [
      { name: "istio-ingressgateway", role: "gateway", workload: "istio-ingressgateway", namespace: "istio-system", logFile: "/dev/null", adminAddress: `127.0.0.1:${gw}` },
      sidecar("sa-webapp-0", "sa-webapp", webapp),
      sidecar("sa-logic-0", "sa-logic", logic0),
      sidecar("sa-logic-1", "sa-logic", logic1),
    ],
  });

  const [byReplica, byDeploy, unknown, byPort, allJson, allTable] = await Promise.all([
    skiff(["cluster", "sa-webapp-0.demo"], runDir),
    skiff(["clusters", "deploy/sa-logic"], runDir),
    skiff(["cluster", "sa-frontend"], runDir),
    skiff(["cluster", String(logic1)], noMesh),
    skiff(["all", "ingressgateway", "-o", "json"], runDir),
    skiff(["all", "istio-ingressgateway.istio-system"], runDir),
  ]);

  assert.equal(byReplica.code, 0, byReplica.stderr);
  assert.match(byReplica.stdout, /webapp-marker\.demo\.svc\.cluster\.local\s+80\s+outbound\s+EDS/);

  assert.equal(byDeploy.code, 0, byDeploy.stderr);
  assert.match(byDeploy.stdout, /logic0-marker/, "deploy/ shows the first replica");
  assert.doesNotMatch(byDeploy.stdout, /logic1-marker/);
  assert.match(byDeploy.stderr, /"deploy\/sa-logic" has 2 proxies \(sa-logic-0\.demo, sa-logic-1\.demo\); showing sa-logic-0\.demo/);

  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /^skiff proxy-config: no proxy named "sa-frontend" in the running mesh; proxies: istio-ingressgateway\.istio-system, sa-logic-0\.demo, sa-logic-1\.demo, sa-webapp-0\.demo \(see `skiff status`\)/);
  assert.doesNotMatch(unknown.stderr, /\n\s+at /, "no stack trace");

  assert.equal(byPort.code, 0, byPort.stderr);
  assert.match(byPort.stdout, /logic1-marker/, "a bare admin port needs no mesh");

  assert.equal(allJson.code, 0, allJson.stderr);
  const dump = JSON.parse(allJson.stdout) as { configs: { "@type": string }[] };
  assert.equal(dump.configs.length, 2, "all -o json is the whole /config_dump");
  assert.match(allJson.stdout, /gateway-marker/);

  assert.equal(allTable.code, 0, allTable.stderr);
  assert.match(allTable.stdout, /^CLUSTERS\nSERVICE FQDN.*\ngateway-marker/m);
  assert.match(allTable.stdout, /\n\nLISTENERS\nADDRESS/);
  assert.match(allTable.stdout, /\n\nSECRETS\n/);
});

test("proxy-config names the proxy it could not reach, and a name with no mesh running says to start one", async (t) => {
  const runDir = mkdtempSync(join(tmpdir(), "skiff-proxy-config-down-"));
  const noMesh = mkdtempSync(join(tmpdir(), "skiff-proxy-config-none-"));
  t.after(() => {
    rmSync(runDir, { recursive: true, force: true });
    rmSync(noMesh, { recursive: true, force: true });
  });
  // A port nothing listens on: taken from a server that is then closed.
  const closed = createServer();
  await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
  const port = (closed.address() as AddressInfo).port;
  await new Promise<void>((resolve) => closed.close(() => resolve()));
  writeMeshState(runDir, {
    gatewayAdminPort: port,
    processes: [{ name: "sa-webapp-0", role: "sidecar", workload: "sa-webapp", namespace: "demo", logFile: "/dev/null", adminAddress: `127.0.0.1:${port}` }],
  });
  const [down, none] = await Promise.all([skiff(["secret", "sa-webapp-0"], runDir), skiff(["secret", "sa-webapp-0"], noMesh)]);
  assert.equal(down.code, 1);
  assert.match(down.stderr, new RegExp(`cannot read http://127\\.0\\.0\\.1:${port}/config_dump \\(sa-webapp-0\\.demo\\): .*is sa-webapp-0\\.demo running\\? see \`skiff status\``));
  assert.equal(none.code, 1);
  assert.match(none.stderr, /no mesh is running to look up "sa-webapp-0" in; start one with `skiff up -f MESH\.yaml`/);
});
