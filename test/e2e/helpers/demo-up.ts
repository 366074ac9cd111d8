// Runs the sentiment demo under `skiff up` (a real child process) for an e2e test:
// a temp run directory, a free gateway port, the embedded trace store on a free port
// (`--trace-port 0`: tests never use fixed ports; its URL read back from `skiff status`),
// optionally the sample's mesh config, and an exit hook that stops the mesh (SIGTERM,
// then sweeps what a hung run left) and removes the temp directory.
import type { TestContext } from "node:test";
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { kernelFreePort, readState, sweepStale } from "../../../src/runtime/index.ts";

export const SKIFF = fileURLToPath(new URL("../../../bin/skiff.js", import.meta.url));
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
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const runDir = join(dir, "run");
  const meshConfig = opts.meshConfig === false ? [] : ["--mesh-config", opts.meshConfig ?? SAMPLE_MESH_CONFIG];
  const env = { ...process.env, SKIFF_RUN_DIR: runDir, DATA_DIR: join(dir, "feedback") };
  const port = await kernelFreePort();
  const up = spawn(process.execPath, [SKIFF, "up", "-f", join(SAMPLES, "mesh.yaml"), ...meshConfig, "--trace-port", "0", "--port", String(port), "--wait", "120"], {
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  up.stdout.on("data", (c: Buffer) => (output += c.toString()));
  up.stderr.on("data", (c: Buffer) => (output += c.toString()));
  const exited = new Promise<number | null>((resolve) => up.once("exit", (code) => resolve(code)));
  const stop = async (): Promise<number | null> => {
    if (up.exitCode !== null) return up.exitCode;
    up.kill("SIGTERM");
    const stopped = await Promise.race([exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 20_000))]);
    if (stopped) return exited;
    const state = readState(runDir);
    up.kill("SIGKILL");
    await exited;
    if (state) sweepStale(state);
    return null;
  };
  t.after(stop);
  for (let i = 0; i < 1200 && !/skiff up: (ready|not ready)/.test(output) && up.exitCode === null; i++) await new Promise((r) => setTimeout(r, 100));
  assert.match(output, /skiff up: ready/, output);
  const skiff = (...args: string[]) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(process.execPath, [SKIFF, ...args], { env, timeout: 30_000 }, (err, stdout, stderr) => {
        resolve({ code: err ? (typeof err.code === "number" ? err.code : 1) : 0, stdout, stderr });
      });
    });
  const status = await skiff("status", "-o", "json");
  assert.equal(status.code, 0, status.stderr);
  const traceUrl = (JSON.parse(status.stdout) as { traceStore?: { url: string } }).traceStore?.url;
  assert.ok(traceUrl, `skiff status names no trace store: ${status.stdout.slice(0, 500)}`);
  return { dir, runDir, env, port, traceUrl, skiff, stop };
}

/** Polls fn until check passes (bounded); returns the last value, or throws the last error. */
export async function eventually<T>(fn: () => Promise<T>, check: (v: T) => boolean, tries = 100, everyMs = 200): Promise<T> {
  let last: T | undefined;
  let error: unknown;
  for (let i = 0; i < tries; i++) {
    try {
      last = await fn();
      if (check(last)) return last;
    } catch (err) {
      error = err;
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
  if (last !== undefined) return last;
  throw error;
}
