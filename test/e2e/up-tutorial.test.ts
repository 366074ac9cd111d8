// The tutorial, end to end, in process mode: `skiff up` on samples/sentiment/mesh.yaml as
// a real child process, then the steps a user types (`skiff apply` of the sample files)
// and the requests a browser makes, all through the ingress gateway on 127.0.0.1.
// (netns mode is a later piece; this file covers process mode only.)
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { kernelFreePort, readState, sweepStale, type MeshState } from "../../src/runtime/index.ts";

import { assertIngressServesTheApp, call, eventually, version, versions } from "./helpers/tutorial.ts";
const SKIFF = fileURLToPath(new URL("../../bin/skiff.js", import.meta.url));
const SAMPLES = fileURLToPath(new URL("../../samples/sentiment/", import.meta.url));
const ISTIO = join(SAMPLES, "istio");

function skiff(env: NodeJS.ProcessEnv, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [SKIFF, ...args], { env, timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === "number" ? err.code : 1) : 0, stdout, stderr });
    });
  });
}


test("the tutorial in process mode: ingress, the app, feedback, canary 90/10 and back, clean stop", { timeout: 240_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "skiff-tutorial-"));
  const runDir = join(dir, "run");
  // DATA_DIR reaches sa-feedback through the runtime's environment: the test's feedback
  // never lands in a user's demo store.
  const env = { ...process.env, SKIFF_RUN_DIR: runDir, DATA_DIR: join(dir, "feedback") };
  const port = await kernelFreePort();
  const up = spawn(process.execPath, [SKIFF, "up", "-f", join(SAMPLES, "mesh.yaml"), "--port", String(port), "--trace-port", "0", "--wait", "120"], { env, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  up.stdout.on("data", (c: Buffer) => (output += c.toString()));
  up.stderr.on("data", (c: Buffer) => (output += c.toString()));
  const exited = new Promise<number | null>((resolve) => up.once("exit", (code) => resolve(code)));
  // On a failure, stop the mesh as a user would (SIGTERM), and if it does not stop in
  // time, kill it and sweep what it started: a failed test leaves no process behind.
  t.after(async () => {
    if (up.exitCode !== null) return;
    up.kill("SIGTERM");
    const stopped = await Promise.race([exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 20_000))]);
    if (stopped) return;
    const state = readState(runDir);
    up.kill("SIGKILL");
    await exited;
    if (state) sweepStale(state);
  });
  // Registered after the stop above, so it runs after it: the mesh is gone before its run directory.
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  for (let i = 0; i < 1200 && !/skiff up: (ready|not ready)/.test(output) && up.exitCode === null; i++) await new Promise((r) => setTimeout(r, 100));
  assert.match(output, /skiff up: ready/, output);

  await t.test("1. before any Gateway is applied, the gateway answers 404", async () => {
    assert.equal((await call(port, "/")).status, 404);
  });

  await t.test("2. with the Gateway and VirtualService: page, static file, image, sentiment, feedback", async () => {
    await assertIngressServesTheApp(port, ISTIO, (...args) => skiff(env, ...args));
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
    const canary = await skiff(env, "apply", "-f", join(ISTIO, "sa-logic-vs-canary.yaml"));
    assert.equal(canary.code, 0, canary.stderr);
    // The new routes are in effect once v2 answers at all.
    assert.equal(await eventually(() => version(port), (v) => v === "v2", 300), "v2");
    const counts = await versions(port, 1000);
    const v2 = counts.get("v2") ?? 0;
    assert.equal((counts.get("v1") ?? 0) + v2, 1000);
    const sigma = Math.sqrt(1000 * 0.1 * 0.9);
    assert.ok(Math.abs(v2 - 100) <= 4 * sigma, `v2 answered ${v2} of 1000`);

    const back = await skiff(env, "apply", "-f", join(ISTIO, "sa-logic-vs.yaml"));
    assert.equal(back.code, 0, back.stderr);
    // Converged once 30 in a row come from v1; then every one of 200 must.
    let streak = 0;
    for (let i = 0; i < 600 && streak < 30; i++) streak = (await version(port)) === "v1" ? streak + 1 : 0;
    assert.equal(streak, 30);
    assert.deepEqual([...(await versions(port, 200))], [["v1", 200]]);
  });

  const state = JSON.parse(readFileSync(join(runDir, "state.json"), "utf8")) as MeshState;
  const pids = state.processes.map((p) => p.pid).filter((p): p is number => p !== undefined);
  up.kill("SIGTERM");
  assert.equal(await exited, 0, output);
  assert.equal(existsSync(join(runDir, "state.json")), false);
  for (const pid of pids) {
    let alive = true;
    try {
      process.kill(pid, 0);
    } catch {
      alive = false;
    }
    assert.equal(alive, false, `process ${pid} outlived skiff up`);
  }
});
