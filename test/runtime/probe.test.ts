import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import { ReadinessProbe, checkFor } from "../../src/runtime/probe.ts";

async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(check(), what);
}

const fast = { initialDelayMs: 0, periodMs: 5, startupPeriodMs: 5 };

test("ready after successThreshold passes; not ready only after failureThreshold failures in a row", async () => {
  const answers = [false, true, true, false, false, true, false, false, false];
  let calls = 0;
  const changes: boolean[] = [];
  const probe = new ReadinessProbe(async () => answers[calls++] ?? false, { ...fast, successThreshold: 2, failureThreshold: 3 }, (r) => changes.push(r));
  probe.start();
  await until(() => calls >= answers.length, "all answers used");
  probe.stop();
  // true,true → ready; false,false,true → still ready (2 < 3); false×3 → not ready.
  assert.deepEqual(changes, [true, false]);
});

test("stop marks not ready at once; start probes from scratch", async () => {
  let ok = true;
  const changes: boolean[] = [];
  const probe = new ReadinessProbe(async () => ok, { ...fast, successThreshold: 1, failureThreshold: 3 }, (r) => changes.push(r));
  probe.start();
  await until(() => probe.ready, "ready");
  probe.stop();
  assert.equal(probe.ready, false);
  ok = false;
  probe.start();
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(probe.ready, false);
  probe.stop();
  assert.deepEqual(changes, [true, false]);
});

test("httpGet: 2xx/3xx ready, 5xx or nothing listening not; ports resolve by name", async () => {
  let status = 500;
  const server: Server = createServer((req, res) => {
    res.statusCode = req.url === "/healthz" ? status : 404;
    res.end();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const port = (server.address() as { port: number }).port;
  const check = checkFor({ httpGet: { path: "/healthz", port: "http" } }, (ref) => (ref === "http" ? port : undefined), undefined, { cwd: ".", env: {} });
  assert.equal(await check(), false);
  status = 204;
  assert.equal(await check(), true);
  status = 302;
  assert.equal(await check(), true);
  const unknownPort = checkFor({ httpGet: { path: "/healthz", port: "nope" } }, () => undefined, undefined, { cwd: ".", env: {} });
  assert.equal(await unknownPort(), false);
  // No probe: ready once the first port accepts connections.
  assert.equal(await checkFor(undefined, () => undefined, port, { cwd: ".", env: {} })(), true);
  await new Promise<void>((r) => server.close(() => r()));
  assert.equal(await check(), false);
  assert.equal(await checkFor(undefined, () => undefined, port, { cwd: ".", env: {} })(), false);
});

test("exec: exit code 0 is ready", async () => {
  const ok = checkFor({ exec: { command: [process.execPath, "-e", "process.exit(0)"] } }, () => undefined, undefined, { cwd: ".", env: process.env });
  const bad = checkFor({ exec: { command: [process.execPath, "-e", "process.exit(1)"] } }, () => undefined, undefined, { cwd: ".", env: process.env });
  assert.equal(await ok(), true);
  assert.equal(await bad(), false);
});
