// `skiff up` as a real child process for an e2e test, started and stopped one way:
// a temp directory (its run directory under it), a free gateway port, the embedded trace
// store on a free port unless the test says otherwise, a bounded wait for "skiff up: ready",
// and one exit hook that stops the mesh as a user would (SIGTERM), kills it and sweeps what
// it started if it does not stop in time, then removes the temp directory. A failed test
// leaves no process and no directory behind.
import type { TestContext } from "node:test";
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { kernelFreePort, readState, sweepStale } from "../../../src/runtime/index.ts";

export const SKIFF = fileURLToPath(new URL("../../../bin/skiff.js", import.meta.url));

export interface SkiffRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** One `skiff ARGS...` run to its end (at most 30 s), with `env` (its SKIFF_RUN_DIR picks the mesh). */
export function runSkiff(env: NodeJS.ProcessEnv, ...args: string[]): Promise<SkiffRun> {
  return new Promise((resolve) => {
    execFile(process.execPath, [SKIFF, ...args], { env, timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === "number" ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

export interface MeshOptions {
  /** `up` (the default), or `demo`: npm start's command, skiff up on the sentiment sample, with the same flags but -f. */
  command?: "up" | "demo";
  /** Mesh files, each given as `-f FILE` (none for `demo`). */
  files?: string[];
  /** More `skiff up` arguments (--mesh-config, --wait, --no-trace-store, ...). Without
   *  --trace-port or --no-trace-store the trace store gets `--trace-port 0`. */
  args?: string[];
  /** Added to the environment of `skiff up` and of every `skiff` run through the mesh. */
  env?: Record<string, string>;
  /** A directory the test made (and wrote its files in); it is removed after the test. Default: a new one. */
  dir?: string;
  /** Prefix of the new temp directory when `dir` is not given. */
  prefix?: string;
  /** How long to wait for "skiff up: ready" (default 120 s); pass --wait as well when a mesh is slow. */
  readyTimeoutMs?: number;
  /** Run by the exit hook once the mesh has stopped (or been killed and swept), before the
   *  directory goes: e.g. a netns test's `cleanupNetns(TAG)`, for a run that died half-way. */
  afterStop?: () => Promise<unknown> | unknown;
}

export interface Mesh {
  /** The temp directory; the run directory is `dir/run`. */
  dir: string;
  runDir: string;
  /** The environment `skiff up` runs with (SKIFF_RUN_DIR and the test's additions). */
  env: NodeJS.ProcessEnv;
  /** The ingress gateway's port on 127.0.0.1. */
  port: number;
  /** The pid of `skiff up`. */
  pid: number;
  /** All `skiff up` printed so far (stdout and stderr). */
  output(): string;
  /** `skiff ARGS...` against this mesh. */
  skiff(...args: string[]): Promise<SkiffRun>;
  /** SIGTERM and the exit code of `skiff up` (null if it had to be killed and swept). */
  stop(): Promise<number | null>;
}

/** Starts `skiff up` on `files` (or `skiff demo`) and waits until it says ready (asserting so). */
export async function startMesh(t: TestContext, opts: MeshOptions): Promise<Mesh> {
  // The one await before the exit hook is registered comes before the temp dir is made.
  const port = await kernelFreePort();
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), opts.prefix ?? "skiff-mesh-"));
  const runDir = join(dir, "run");
  const env: NodeJS.ProcessEnv = { ...process.env, ...opts.env, SKIFF_RUN_DIR: runDir };
  const args = opts.args ?? [];
  const trace = args.includes("--no-trace-store") || args.includes("--trace-port") ? [] : ["--trace-port", "0"];
  const up = spawn(process.execPath, [SKIFF, opts.command ?? "up", ...(opts.files ?? []).flatMap((f) => ["-f", f]), "--port", String(port), ...trace, ...args], {
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  up.stdout.on("data", (c: Buffer) => (output += c.toString()));
  up.stderr.on("data", (c: Buffer) => (output += c.toString()));
  const exited = new Promise<number | null>((resolve) => up.once("exit", (code) => resolve(code)));

  const stop = async (): Promise<number | null> => {
    if (up.exitCode !== null || up.signalCode !== null) return up.exitCode;
    up.kill("SIGTERM");
    const stopped = await Promise.race([exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 20_000).unref())]);
    if (stopped) return exited;
    // A hung stop: kill it, and kill what it started from its state file.
    const state = readState(runDir);
    up.kill("SIGKILL");
    await exited;
    if (state) sweepStale(state);
    return null;
  };
  // One hook, in this order: the mesh must be gone before its run directory is.
  t.after(async () => {
    try {
      await stop();
      await opts.afterStop?.();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  const deadline = Date.now() + (opts.readyTimeoutMs ?? 120_000);
  while (!/skiff up: (ready|not ready)/.test(output) && up.exitCode === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  assert.match(output, /skiff up: ready/, output);
  return { dir, runDir, env, port, pid: up.pid!, output: () => output, skiff: (...a) => runSkiff(env, ...a), stop };
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

/** Whether a process still runs (signal 0 probes without touching it). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
