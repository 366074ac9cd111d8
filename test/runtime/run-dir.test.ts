import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawn } from "node:child_process";
import { readState, removeState, runDir, runningMesh, stateFile, sweepStale, writeState, type MeshState } from "../../src/runtime/index.ts";

function sample(pid: number): MeshState {
  return {
    pid,
    startedAt: "2026-01-01T00:00:00.000Z",
    files: ["/x/mesh.yaml"],
    apiPort: 1,
    xdsPort: 2,
    monitoringPort: 3,
    gateway: { httpPort: 8080, adminPort: 4 },
    processes: [{ name: "a-0", role: "app", workload: "a", namespace: "default", pid: 123, logFile: "/x/a.log" }],
  };
}

test("run directory: SKIFF_RUN_DIR wins, then XDG_RUNTIME_DIR/skiff, then the temp dir per user", () => {
  assert.equal(runDir({ SKIFF_RUN_DIR: "/r", XDG_RUNTIME_DIR: "/run/user/1" }), "/r");
  assert.equal(runDir({ XDG_RUNTIME_DIR: "/run/user/1" }), "/run/user/1/skiff");
  assert.match(runDir({}), /skiff-[^/]+$/);
});

test("state round-trips, and is written whole (JSON), then removed", (t) => {
  const top = mkdtempSync(join(tmpdir(), "skiff-state-"));
  t.after(() => rmSync(top, { recursive: true, force: true }));
  const dir = join(top, "nested");
  writeState(dir, sample(process.pid));
  assert.deepEqual(readState(dir), sample(process.pid));
  assert.doesNotThrow(() => JSON.parse(readFileSync(stateFile(dir), "utf8")));
  removeState(dir);
  assert.equal(readState(dir), undefined);
});

test("a mesh counts as running only while its process lives; a garbled state is no mesh", (t) => {
  const dir = mkdtempSync(join(tmpdir(), "skiff-state-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeState(dir, sample(process.pid));
  assert.equal(runningMesh(dir)?.pid, process.pid);
  // A pid far above any pid_max: the mesh that wrote it is gone.
  writeState(dir, sample(2 ** 30));
  assert.equal(runningMesh(dir), undefined);
  writeFileSync(stateFile(dir), "{ not json");
  assert.equal(runningMesh(dir), undefined);
});

test("leftovers of a mesh that died are killed, and only processes carrying its id", { skip: process.platform !== "linux" && "reads /proc" }, async () => {
  const start = (env: NodeJS.ProcessEnv) => spawn(process.execPath, ["-e", "setInterval(() => {}, 1000)"], { env, detached: true, stdio: "ignore" });
  const ours = start({ ...process.env, SKIFF_MESH_ID: "dead-mesh" });
  const stranger = start({ ...process.env, SKIFF_MESH_ID: "another-mesh" });
  await new Promise((r) => setTimeout(r, 200));
  const gone = new Promise((r) => ours.once("exit", r));
  const state: MeshState = { ...sample(2 ** 30), meshId: "dead-mesh", processes: [ours, stranger].map((c, i) => ({ name: `p${i}`, role: "app", workload: "w", namespace: "default", pid: c.pid, logFile: "/dev/null" })) };
  try {
    assert.equal(sweepStale(state), 1);
    await gone;
    assert.equal(stranger.exitCode, null);
    // A mesh whose process is alive is never swept.
    assert.equal(sweepStale({ ...state, pid: process.pid }), 0);
  } finally {
    stranger.kill("SIGKILL");
    ours.kill("SIGKILL");
  }
});
