// Runs the sentiment demo under `skiff up` (a real child process, through startMesh) for
// an e2e test: a temp run directory, a free gateway port, the embedded trace store on a
// free port (`--trace-port 0`: tests never use fixed ports; its URL read back from
// `skiff status`), optionally the sample's mesh config, and an exit hook that stops the
// mesh (SIGTERM, then sweeps what a hung run left) and removes the temp directory.
import type { TestContext } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { SKIFF, eventually, startMesh } from "./mesh.ts";

export { SKIFF, eventually };
export const SAMPLES = fileURLToPath(new URL("../../../samples/sentiment/", import.meta.url));
export const ISTIO = join(SAMPLES, "istio");

export interface Demo {
  dir: string;
  runDir: string;
  env: NodeJS.ProcessEnv;
  /** Gateway port on 127.0.0.1. */
  port: number;
  /** The embedded trace store's base URL, as `skiff status -o json` reports it. */
  traceUrl: string;
  skiff(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }>;
  /** SIGTERM and the exit code of `skiff up`. */
  stop(): Promise<number | null>;
}

/** The sample mesh config (samples/mesh-config/sentiment.yaml), used as it is. */
export const SAMPLE_MESH_CONFIG = join(SAMPLES, "..", "mesh-config", "sentiment.yaml");

/** `meshConfig: false` runs with no --mesh-config at all (Istio's defaults). */
export async function startDemo(t: TestContext, opts: { meshConfig?: string | false } = {}): Promise<Demo> {
  const dir = mkdtempSync(join(tmpdir(), "skiff-obs-"));
  const meshConfig = opts.meshConfig === false ? [] : ["--mesh-config", opts.meshConfig ?? SAMPLE_MESH_CONFIG];
  const mesh = await startMesh(t, { dir, files: [join(SAMPLES, "mesh.yaml")], args: [...meshConfig, "--wait", "120"], env: { DATA_DIR: join(dir, "feedback") } });
  const { runDir, env, port, skiff, stop } = mesh;
  const status = await skiff("status", "-o", "json");
  assert.equal(status.code, 0, status.stderr);
  const traceUrl = (JSON.parse(status.stdout) as { traceStore?: { url: string } }).traceStore?.url;
  assert.ok(traceUrl, `skiff status names no trace store: ${status.stdout.slice(0, 500)}`);
  return { dir, runDir, env, port, traceUrl, skiff, stop };
}
