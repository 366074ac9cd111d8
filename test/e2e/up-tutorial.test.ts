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
import { assertCanarySplitsAndReverts, assertIngressServesTheApp, call, eventually, versions } from "./helpers/tutorial.ts";

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
    await assertCanarySplitsAndReverts(port, ISTIO, skiff);
  });

  const state = JSON.parse(readFileSync(join(runDir, "state.json"), "utf8")) as MeshState;
  const pids = state.processes.map((p) => p.pid).filter((p): p is number => p !== undefined);
  assert.equal(await up.stop(), 0, up.output());
  assert.equal(existsSync(join(runDir, "state.json")), false);
  for (const pid of pids) assert.equal(alive(pid), false, `process ${pid} outlived skiff up`);
});
