// `skiff proxy-status` with `skiff up` running: it finds the mesh's control plane through
// the run directory (skiff up's monitoring port is ephemeral) and takes the proxy names
// `skiff proxy-config` takes. The control plane here is a small /debug/syncz server.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeState, type ProcessRecord } from "../../src/runtime/run-dir.ts";

const bin = new URL("../../bin/skiff.js", import.meta.url).pathname;
const nodeId = (name: string): string => `sidecar~127.0.0.1~${name}.demo~demo.svc.cluster.local`;

function skiff(args: string[], runDir: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, "proxy-status", ...args], { env: { ...process.env, SKIFF_RUN_DIR: runDir }, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

test("proxy-status reads the running mesh's control plane and filters by deploy/ and replica names", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "skiff-proxy-status-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const names = ["sa-logic-0", "sa-logic-1", "sa-webapp-0"];
  const syncz = names.map((name) => ({
    proxy: nodeId(name),
    connectionId: name,
    type: "sidecar",
    namespace: "demo",
    podName: `${name}.demo`,
    cluster: "Kubernetes",
    labels: {},
    connectedAt: new Date().toISOString(),
    types: { CDS: { state: "SYNCED" } },
    translationProblems: [],
  }));
  const server = createServer((req, res) => {
    if (req.url !== "/debug/syncz") return void res.writeHead(404).end();
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(syncz));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.after(() => server.close());
  const processes: ProcessRecord[] = names.map((name) => ({ name, role: "sidecar", workload: name.replace(/-\d+$/, ""), namespace: "demo", logFile: "/dev/null", nodeId: nodeId(name) }));
  const monitoringPort = (server.address() as AddressInfo).port;
  writeState(dir, { pid: process.pid, startedAt: new Date().toISOString(), files: [], apiPort: 1, xdsPort: 2, monitoringPort, gateway: { httpPort: 8080, adminPort: 4 }, processes });

  const [all, deploy, replica] = await Promise.all([skiff([], dir), skiff(["deploy/sa-logic"], dir), skiff(["sa-webapp-0", "-o", "json"], dir)]);
  assert.equal(all.code, 0, all.stderr);
  const rows = (out: string): string[] => out.trim().split("\n").slice(1).map((line) => line.split(/\s+/)[0]);
  assert.deepEqual(rows(all.stdout), ["sa-logic-0.demo", "sa-logic-1.demo", "sa-webapp-0.demo"], "no --control-plane needed under skiff up");
  assert.deepEqual(rows(deploy.stdout), ["sa-logic-0.demo", "sa-logic-1.demo"], "deploy/ means every replica");
  assert.deepEqual((JSON.parse(replica.stdout) as { proxy: string }[]).map((p) => p.proxy), [nodeId("sa-webapp-0")]);
});
