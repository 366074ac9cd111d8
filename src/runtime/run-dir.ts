// Where a running mesh keeps its state: one run directory per user, one mesh at a time.
// The state file says which process runs the mesh and on which ports its local API,
// xDS and monitoring listen; `skiff apply/delete/status/logs` find the mesh through it.
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** `SKIFF_RUN_DIR`, else `$XDG_RUNTIME_DIR/skiff`, else `/tmp/skiff-<uid>`. */
export function runDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.SKIFF_RUN_DIR) return env.SKIFF_RUN_DIR;
  if (env.XDG_RUNTIME_DIR) return join(env.XDG_RUNTIME_DIR, "skiff");
  const uid = typeof process.getuid === "function" ? process.getuid() : "user";
  return join(tmpdir(), `skiff-${uid}`);
}

export function logDir(dir: string): string {
  return join(dir, "logs");
}

export function stateFile(dir: string): string {
  return join(dir, "state.json");
}

/** One process the mesh started (an app replica, a sidecar, the gateway). */
export interface ProcessRecord {
  name: string;
  role: "app" | "sidecar" | "gateway";
  workload: string;
  namespace: string;
  pid?: number;
  logFile: string;
  /** Proxies: the Prometheus ports (Istio's 15090 stats, 15020 merged), on the replica's address or 127.0.0.1. */
  statsPort?: number;
  mergePort?: number;
  /** Proxies: where the admin API answers (`host:port`, the replica's own address in netns mode), for `skiff proxy-config NAME`. */
  adminAddress?: string;
  /** Proxies: the xDS node id (`sidecar~IP~NAME.NS~NS.svc.cluster.local`), as `skiff proxy-status` shows it. */
  nodeId?: string;
}

export interface MeshState {
  pid: number;
  /** Set in every child's environment as SKIFF_MESH_ID, so leftovers can be recognised safely. */
  meshId?: string;
  startedAt: string;
  files: string[];
  /** The local API (`skiff apply`, `delete`, `status`). */
  apiPort: number;
  xdsPort: number;
  monitoringPort: number;
  gateway: { httpPort: number; adminPort: number; statsPort?: number; mergePort?: number };
  /** The embedded trace store's Zipkin API, when `skiff up` runs it. */
  traceStore?: { url: string };
  processes: ProcessRecord[];
}

/** Writes the state atomically (a reader never sees half a file). */
export function writeState(dir: string, state: MeshState): void {
  mkdirSync(dir, { recursive: true });
  const tmp = `${stateFile(dir)}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(state, null, 2) + "\n");
  renameSync(tmp, stateFile(dir));
}

export function readState(dir: string): MeshState | undefined {
  let text: string;
  try {
    text = readFileSync(stateFile(dir), "utf8");
  } catch {
    return undefined;
  }
  try {
    return JSON.parse(text) as MeshState;
  } catch {
    return undefined;
  }
}

export function removeState(dir: string): void {
  rmSync(stateFile(dir), { force: true });
}

export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** The running mesh's state, or undefined when none runs (a stale file from a killed mesh is ignored). */
export function runningMesh(dir: string): MeshState | undefined {
  const state = readState(dir);
  return state && processAlive(state.pid) ? state : undefined;
}

export class NoMeshError extends Error {
  constructor(dir: string) {
    super(`no mesh is running (looked in ${dir}); start one with \`skiff up -f MESH.yaml\``);
  }
}

export const MESH_ID_ENV = "SKIFF_MESH_ID";

/** Whether process `pid` carries `SKIFF_MESH_ID=<meshId>` in its environment (Linux /proc; false elsewhere). */
function belongsToMesh(pid: number, meshId: string): boolean {
  try {
    return readFileSync(`/proc/${pid}/environ`, "utf8").split("\0").includes(`${MESH_ID_ENV}=${meshId}`);
  } catch {
    return false;
  }
}

/**
 * Kills what a mesh that died without stopping (SIGKILL, a crash) left running. Only
 * processes that still carry that mesh's id in their environment are touched, so a
 * recycled pid is never hit. Returns how many were killed.
 */
export function sweepStale(state: MeshState): number {
  if (!state.meshId || processAlive(state.pid)) return 0;
  let killed = 0;
  for (const p of state.processes) {
    if (p.pid === undefined || !belongsToMesh(p.pid, state.meshId)) continue;
    try {
      process.kill(-p.pid, "SIGKILL");
    } catch {
      try {
        process.kill(p.pid, "SIGKILL");
      } catch {
        continue;
      }
    }
    killed++;
  }
  return killed;
}
