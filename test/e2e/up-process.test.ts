// `skiff up` in process mode as a user runs it: a real `skiff up` child process on a
// small mesh (helpers/shop.ts: two node apps), `skiff apply` / `status` / `delete` as real
// processes, requests through the ingress gateway on 127.0.0.1, then SIGTERM and no
// process left behind.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync, existsSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { MeshState } from "../../src/runtime/index.ts";
import { alive, eventually, runSkiff as skiff, startMesh } from "./helpers/mesh.ts";
import { shopGateway, writeShop } from "./helpers/shop.ts";

const INVALID = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: web }
spec:
  hosts: ["*"]
  gateways: [web]
  http: [{ route: [{ destination: { host: front }, weight: -5 }] }]
`;

async function get(port: number, path: string): Promise<{ status: number; body: string }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(10_000) });
  return { status: res.status, body: await res.text() };
}

test("skiff status, apply and delete say clearly when no mesh is running", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "skiff-nomesh-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const env = { ...process.env, SKIFF_RUN_DIR: join(dir, "run") };
  for (const args of [["status"], ["apply", "-f", dir], ["delete", "-f", dir]]) {
    const r = await skiff(env, ...args);
    assert.equal(r.code, 1, args.join(" "));
    assert.match(r.stderr, new RegExp(`no mesh is running \\(looked in ${join(dir, "run")}\\)`));
  }
});

test("skiff up refuses at once when the gateway's port is taken", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "skiff-busy-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeShop(dir, { replicas: { front: 1, back: 2 } });
  const busy = createServer();
  await new Promise<void>((r) => busy.listen(0, "127.0.0.1", () => r()));
  const port = (busy.address() as { port: number }).port;
  try {
    const r = await skiff({ ...process.env, SKIFF_RUN_DIR: join(dir, "run") }, "up", "-f", join(dir, "mesh.yaml"), "--port", String(port));
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`port ${port} on 127\\.0\\.0\\.1 is in use.*--port`));
    assert.equal(existsSync(join(dir, "run", "state.json")), false);
  } finally {
    busy.close();
  }
});

test("skiff up: gateway 404 before a Gateway, routes after apply, status, refused invalid config, restart of a crashed app, delete, clean stop", { timeout: 120_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "skiff-up-"));
  writeShop(dir, { replicas: { front: 1, back: 2 } });
  writeFileSync(join(dir, "gateway.yaml"), shopGateway());
  writeFileSync(join(dir, "invalid.yaml"), INVALID);
  const up = await startMesh(t, { dir, files: [join(dir, "mesh.yaml")] });
  const { runDir, env, port: httpPort } = up;
  assert.match(up.output(), new RegExp(`ingress gateway http://localhost:${httpPort}/`));
  assert.match(up.output(), /shop\/back-1 /);
  const state = JSON.parse(readFileSync(join(runDir, "state.json"), "utf8")) as MeshState;
  assert.equal(state.pid, up.pid);
  assert.equal(state.processes.filter((p) => p.role === "app").length, 3);
  assert.equal(state.processes.filter((p) => p.role === "sidecar").length, 3);

  await t.test("before any Gateway the gateway answers 404", async () => {
    assert.equal((await get(httpPort, "/")).status, 404);
  });

  await t.test("after skiff apply of a Gateway and VirtualService, requests reach the app through its sidecar", async () => {
    const applied = await skiff(env, "apply", "-f", join(dir, "gateway.yaml"), "-n", "shop");
    assert.equal(applied.code, 0, applied.stderr);
    assert.match(applied.stdout, /Gateway\/shop\/web configured/);
    assert.match(applied.stdout, /VirtualService\/shop\/web configured/);
    const res = await eventually(() => get(httpPort, "/"), (r) => r.status === 200);
    assert.deepEqual(res, { status: 200, body: "hello from front" });
  });

  await t.test("skiff status shows every replica 2/2 and each proxy synced", async () => {
    const shown = await eventually(() => skiff(env, "status"), (r) => (r.stdout.match(/2\/2/g) ?? []).length === 3 && !/NOT CONNECTED|STALE|NACK/.test(r.stdout), 20);
    assert.equal(shown.code, 0, shown.stderr);
    for (const name of ["front-0", "back-0", "back-1"]) assert.match(shown.stdout, new RegExp(`shop\\s+${name}\\s+\\S+\\s+2/2\\s+Running\\s+0\\s+127\\.0\\.0\\.1:\\d+\\s+SYNCED`), shown.stdout);
    assert.match(shown.stdout, /istio-system\s+istio-ingressgateway\s+istio-ingressgateway\s+1\/1\s+Running/);
  });

  await t.test("invalid config is refused with its errors and the mesh keeps serving", async () => {
    const refused = await skiff(env, "apply", "-f", join(dir, "invalid.yaml"), "-n", "shop");
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /invalid\.yaml:\d+/);
    assert.match(refused.stderr, /weight/);
    assert.match(refused.stderr, /nothing was changed/);
    assert.equal((await get(httpPort, "/")).status, 200);
  });

  await t.test("skiff logs shows the app's and the proxy's logs", async () => {
    const logs = await skiff(env, "logs", "front", "-c", "proxy");
    assert.equal(logs.code, 0, logs.stderr);
    assert.match(logs.stdout, /sidecar~127\.0\.0\.1~front-0\.shop/);
  });

  await t.test("a crashed app is restarted and comes back ready", async () => {
    const now = JSON.parse(readFileSync(join(runDir, "state.json"), "utf8")) as MeshState;
    const front = now.processes.find((p) => p.role === "app" && p.name === "front-0");
    assert.ok(front?.pid);
    process.kill(front.pid, "SIGKILL");
    const shown = await eventually(() => skiff(env, "status"), (r) => /shop\s+front-0\s+\S+\s+2\/2\s+Running\s+1\s/.test(r.stdout), 40);
    assert.match(shown.stdout, /shop\s+front-0\s+\S+\s+2\/2\s+Running\s+1\s/, shown.stdout);
    const res = await eventually(() => get(httpPort, "/"), (r) => r.status === 200);
    assert.equal(res.body, "hello from front");
  });

  await t.test("an app reaches another service through its sidecar's HTTP proxy", async () => {
    const replicas = new Set<string>();
    for (let i = 0; i < 20; i++) {
      const res = await get(httpPort, "/call-back");
      assert.equal(res.status, 200, res.body);
      const m = /^front -> hello from back @(\d+)$/.exec(res.body);
      assert.ok(m, res.body);
      replicas.add(m[1]);
    }
    // Both back replicas are registered endpoints and take traffic.
    assert.equal(replicas.size, 2);
  });

  await t.test("skiff delete removes the routes: 404 again", async () => {
    const deleted = await skiff(env, "delete", "-f", join(dir, "gateway.yaml"), "-n", "shop");
    assert.equal(deleted.code, 0, deleted.stderr);
    assert.match(deleted.stdout, /VirtualService\/shop\/web deleted/);
    const res = await eventually(() => get(httpPort, "/"), (r) => r.status === 404);
    assert.equal(res.status, 404);
  });

  const final = JSON.parse(readFileSync(join(runDir, "state.json"), "utf8")) as MeshState;
  const pids = final.processes.map((p) => p.pid).filter((p): p is number => p !== undefined);
  assert.equal(pids.length, 7);
  assert.equal(await up.stop(), 0, up.output());
  assert.match(up.output(), /skiff up: stopped/);
  assert.equal(existsSync(join(runDir, "state.json")), false);
  for (const pid of pids) assert.equal(alive(pid), false, `process ${pid} outlived skiff up`);
});
