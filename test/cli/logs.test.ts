// `skiff logs` takes the same names as the proxy commands (deploy/NAME, REPLICA.NAMESPACE,
// the gateway's short name, a node id) and still shows every replica of a workload.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ProcessRecord } from "../../src/runtime/run-dir.ts";
import { writeMeshState } from "./helpers/mesh-state.ts";

const bin = new URL("../../bin/skiff.js", import.meta.url).pathname;

function skiff(args: string[], runDir: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, "logs", ...args], { env: { ...process.env, SKIFF_RUN_DIR: runDir }, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

test("skiff logs by deploy/, REPLICA.NAMESPACE, the gateway's short name and a node id", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "skiff-logs-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const processes: ProcessRecord[] = [];
  const add = (name: string, role: ProcessRecord["role"], workload: string, namespace: string, extra: Partial<ProcessRecord> = {}): void => {
    const logFile = join(dir, `${namespace}.${name}.${role}.log`);
    writeFileSync(logFile, `${role} log of ${name}.${namespace}\n`);
    processes.push({ name, role, workload, namespace, logFile, ...extra });
  };
  add("istio-ingressgateway", "gateway", "istio-ingressgateway", "istio-system");
  for (const name of ["sa-logic-0", "sa-logic-1"]) {
    add(name, "app", "sa-logic", "demo");
    add(name, "sidecar", "sa-logic", "demo", { nodeId: `sidecar~127.0.0.1~${name}.demo~demo.svc.cluster.local` });
  }
  writeMeshState(dir, { gatewayAdminPort: 4, processes });

  const [deploy, replica, gateway, node, gatewayApp, badKind] = await Promise.all([
    skiff(["deploy/sa-logic"], dir),
    skiff(["sa-logic-1.demo", "-c", "proxy"], dir),
    skiff(["ingressgateway", "-c", "proxy"], dir),
    skiff(["sidecar~127.0.0.1~sa-logic-0.demo~demo.svc.cluster.local"], dir),
    skiff(["ingressgateway"], dir),
    skiff(["svc/sa-logic"], dir),
  ]);
  assert.equal(deploy.code, 0, deploy.stderr);
  assert.equal(deploy.stdout, "==> demo/sa-logic-0 <==\napp log of sa-logic-0.demo\n==> demo/sa-logic-1 <==\napp log of sa-logic-1.demo\n");
  assert.equal(replica.stdout, "sidecar log of sa-logic-1.demo\n");
  assert.equal(gateway.stdout, "gateway log of istio-ingressgateway.istio-system\n");
  assert.equal(node.stdout, "app log of sa-logic-0.demo\n", "a node id's app log is its replica's");
  assert.equal(gatewayApp.code, 1);
  assert.match(gatewayApp.stderr, /no app named "ingressgateway" \(the gateway is a proxy: use -c proxy\)/);
  assert.equal(badKind.code, 1);
  assert.match(badKind.stderr, /^skiff logs: "svc\/sa-logic": unknown kind "svc\/"/);
});
