// The tutorial, end to end, in process mode: `skiff up` on samples/sentiment/mesh.yaml as
// a real child process, then the steps a user types (`skiff apply` of the sample files)
// and the requests a browser makes, all through the ingress gateway on 127.0.0.1.
// (netns mode is a later piece; this file covers process mode only.)
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { MeshState } from "../../src/runtime/index.ts";
import { alive, startMesh } from "./helpers/mesh.ts";
import { assertIngressServesTheApp, call, eventually, version, versions } from "./helpers/tutorial.ts";

const SAMPLES = fileURLToPath(new URL("../../samples/sentiment/", import.meta.url));
const ISTIO = join(SAMPLES, "istio");

test("the tutorial in process mode: ingress, the app, feedback, canary 90/10 and back, clean stop", { timeout: 240_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "skiff-tutorial-"));
  // DATA_DIR reaches sa-feedback through the runtime's environment: the test's feedback
  // never lands in a user's demo store.
  const up = await startMesh(t, { dir, files: [join(SAMPLES, "mesh.yaml")], args: ["--wait", "120"], env: { DATA_DIR: join(dir, "feedback") } });
  const { runDir, port, skiff } = up;

  await t.test("1. before any Gateway is applied, the gateway answers 404", async () => {
    assert.equal((await call(port, "/")).status, 404);
  });

  await t.test("2. with the Gateway and VirtualService: page, static file, image, sentiment, feedback", async () => {
    await assertIngressServesTheApp(port, ISTIO, skiff);
  });

  await t.test("3. v2 deployed under the v1-only VirtualService: 200 of 200 answered by v1", async () => {
    for (const f of [["sa-logic-dr.yaml", "sa-logic-vs.yaml"], ["sa-logic-v2.yaml"]]) {
      const r = await skiff("apply", ...f.flatMap((n) => ["-f", join(ISTIO, n)]));
      assert.equal(r.code, 0, r.stderr);
    }
    const status = await eventually(() => skiff("status"), (r) => /demo\s+sa-logic-v2-0\s+sa-logic-v2\s+2\/2/.test(r.stdout), 300);
    assert.match(status.stdout, /demo\s+sa-logic-v2-0\s+sa-logic-v2\s+2\/2/, status.stdout);
    const counts = await versions(port, 200);
    assert.deepEqual([...counts], [["v1", 200]]);
  });

  await t.test("3. the canary VirtualService splits 1,000 requests 90/10 (within 4 sigma); v1-only again brings 100% back", async () => {
    const canary = await skiff("apply", "-f", join(ISTIO, "sa-logic-vs-canary.yaml"));
    assert.equal(canary.code, 0, canary.stderr);
    // The new routes are in effect once v2 answers at all.
    assert.equal(await eventually(() => version(port), (v) => v === "v2", 300), "v2");
    const counts = await versions(port, 1000);
    const v2 = counts.get("v2") ?? 0;
    assert.equal((counts.get("v1") ?? 0) + v2, 1000);
    const sigma = Math.sqrt(1000 * 0.1 * 0.9);
    assert.ok(Math.abs(v2 - 100) <= 4 * sigma, `v2 answered ${v2} of 1000`);

    const back = await skiff("apply", "-f", join(ISTIO, "sa-logic-vs.yaml"));
    assert.equal(back.code, 0, back.stderr);
    // Converged once 30 in a row come from v1; then every one of 200 must.
    let streak = 0;
    for (let i = 0; i < 600 && streak < 30; i++) streak = (await version(port)) === "v1" ? streak + 1 : 0;
    assert.equal(streak, 30);
    assert.deepEqual([...(await versions(port, 200))], [["v1", 200]]);
  });

  const state = JSON.parse(readFileSync(join(runDir, "state.json"), "utf8")) as MeshState;
  const pids = state.processes.map((p) => p.pid).filter((p): p is number => p !== undefined);
  assert.equal(await up.stop(), 0, up.output());
  assert.equal(existsSync(join(runDir, "state.json")), false);
  for (const pid of pids) assert.equal(alive(pid), false, `process ${pid} outlived skiff up`);
});
