// `skiff demo` (npm start) takes skiff up's trace-store flags: --trace-port PORT moves the
// embedded trace store off 9411, --no-trace-store runs none (for a user whose Zipkin or
// collector already holds 9411, where the demo used to refuse with no way out).
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { kernelFreePort } from "../../src/runtime/index.ts";
import { runSkiff, startMesh } from "./helpers/mesh.ts";

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), "skiff-demo-flags-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test("skiff demo: --trace-port and --no-trace-store together, or a bad port, are usage errors (exit 2)", async (t) => {
  const env = { ...process.env, SKIFF_RUN_DIR: join(tempDir(t), "run") };
  const both = await runSkiff(env, "demo", "--trace-port", "0", "--no-trace-store");
  assert.equal(both.code, 2, both.stderr);
  assert.match(both.stderr, /^skiff demo: use --trace-port or --no-trace-store, not both\n\nusage: skiff demo/);
  const bad = await runSkiff(env, "demo", "--trace-port", "zipkin");
  assert.equal(bad.code, 2, bad.stderr);
  assert.match(bad.stderr, /^skiff demo: --trace-port .*"zipkin"/);
  const help = await runSkiff(env, "demo", "--help");
  assert.match(help.stdout, /--trace-port PORT[\s\S]*--no-trace-store/);
});

test("skiff demo --trace-port on a taken port refuses at once, naming --no-trace-store and --trace-port", async (t) => {
  const dir = tempDir(t);
  const busy = createServer();
  await new Promise<void>((r) => busy.listen(0, "127.0.0.1", () => r()));
  t.after(() => busy.close());
  const tracePort = (busy.address() as { port: number }).port;
  const gatewayPort = await kernelFreePort();
  const r = await runSkiff({ ...process.env, SKIFF_RUN_DIR: join(dir, "run") }, "demo", "--port", String(gatewayPort), "--trace-port", String(tracePort));
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, new RegExp(`port ${tracePort} on 127\\.0\\.0\\.1 is in use, so the embedded trace store could not listen there.*--no-trace-store.*--trace-port`));
  assert.equal(existsSync(join(dir, "run", "state.json")), false, "nothing was started");
});

test("skiff demo --no-trace-store runs the demo without a trace store", { timeout: 150_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "skiff-demo-flags-"));
  const mesh = await startMesh(t, { command: "demo", dir, args: ["--no-trace-store"], env: { DATA_DIR: join(dir, "feedback") } });
  const { port } = mesh;
  const output = mesh.output();
  assert.match(output, new RegExp(`Open http://localhost:${port}/`));
  assert.doesNotMatch(output, /trace store/, "no trace store line among the ready lines");
  const status = await mesh.skiff("status", "-o", "json");
  assert.equal(status.code, 0, status.stderr);
  const parsed = JSON.parse(status.stdout) as { traceStore?: unknown; gateway: { httpPort: number } };
  assert.equal(parsed.gateway.httpPort, port);
  assert.equal(parsed.traceStore, undefined, "skiff status names no trace store");
  assert.equal(await mesh.stop(), 0, mesh.output());
});
