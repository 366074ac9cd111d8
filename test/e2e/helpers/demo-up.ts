// Runs the sentiment demo under `skiff up` (a real child process) for an e2e test:
// a temp run directory, a free gateway port, the sample's mesh config with the trace
// store's port put in place of the documented 9411 (tests never use fixed ports), and
// an exit hook that stops the mesh (SIGTERM, then sweeps what a hung run left).
import type { TestContext } from "node:test";
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
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
  skiff(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }>;
  /** SIGTERM and the exit code of `skiff up`. */
  stop(): Promise<number | null>;
}

export async function startDemo(t: TestContext, opts: { tracePort: number }): Promise<Demo> {
  const dir = mkdtempSync(join(tmpdir(), "skiff-obs-"));
  const runDir = join(dir, "run");
  const meshConfig = join(dir, "mesh-config.yaml");
  const sample = readFileSync(join(SAMPLES, "..", "mesh-config", "sentiment.yaml"), "utf8");
  assert.match(sample, /port: 9411/, "the sample mesh config names the trace store's port 9411");
  writeFileSync(meshConfig, sample.replace("port: 9411", `port: ${opts.tracePort}`));
  const env = { ...process.env, SKIFF_RUN_DIR: runDir, DATA_DIR: join(dir, "feedback") };
  const port = await kernelFreePort();
  const up = spawn(process.execPath, [SKIFF, "up", "-f", join(SAMPLES, "mesh.yaml"), "--mesh-config", meshConfig, "--port", String(port), "--wait", "120"], {
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
  return { dir, runDir, env, port, skiff, stop };
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
