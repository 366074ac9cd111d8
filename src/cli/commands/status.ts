// `skiff status`: what the running mesh runs — each replica's READY (app and sidecar,
// as `kubectl get pods` shows 2/2), state, restarts, ports, and its proxy's sync state
// with the control plane (from the control plane's /debug/syncz).
import { request } from "node:http";
import { NoMeshError, callMesh, runDir, runningMesh, type MeshStatus } from "../../runtime/client.ts";
import { choiceOption, command } from "../command.ts";

export const summary = "show the running mesh: workloads, replicas, READY, proxy sync state";

interface SyncEntry {
  proxy: string;
  types: Partial<Record<string, { state: string; lastNack?: { message: string } }>>;
}

function getJson<T>(port: number, path: string): Promise<T | undefined> {
  return new Promise((resolve) => {
    const req = request({ host: "127.0.0.1", port, path, timeout: 5000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        try {
          resolve(JSON.parse(Buffer.concat(chunks).toString("utf8")) as T);
        } catch {
          resolve(undefined);
        }
      });
    });
    req.on("timeout", () => req.destroy());
    req.on("error", () => resolve(undefined));
    req.end();
  });
}

/** One word for a proxy's xDS state: NACK beats STALE beats SYNCED; not connected when absent. */
export function syncSummary(entry: SyncEntry | undefined): string {
  if (!entry) return "NOT CONNECTED";
  const types = Object.values(entry.types).filter((t): t is NonNullable<typeof t> => t !== undefined);
  if (types.some((t) => t.lastNack)) return "NACK";
  if (types.some((t) => t.state === "STALE")) return "STALE";
  return "SYNCED";
}

function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join("   ")).join("\n");
}

export function render(status: MeshStatus, syncz: SyncEntry[] | undefined): string {
  const sync = (nodeId: string | undefined): string => (nodeId === undefined ? "-" : syncz ? syncSummary(syncz.find((e) => e.proxy === nodeId)) : "UNKNOWN");
  const rows: string[][] = [["NAMESPACE", "NAME", "WORKLOAD", "READY", "STATUS", "RESTARTS", "ENDPOINT", "PROXY SYNC"]];
  const g = status.gateway;
  rows.push([g.namespace, g.name, g.name, g.ready ? "1/1" : "0/1", stateWord(g.state), "0", `localhost:${g.httpPort}`, sync(g.nodeId)]);
  for (const r of status.replicas) {
    const endpoint = r.app.ports.map((p) => `${r.address ?? "127.0.0.1"}:${p.inboundPort ?? p.port}`).join(",");
    const restarts = r.app.restarts + (r.sidecar?.restarts ?? 0);
    rows.push([r.namespace, r.name, r.workload, `${r.readyCount}/${r.containers}`, stateWord(r.app.state, r.app.lastExit), String(restarts), endpoint, sync(r.sidecar?.nodeId)]);
  }
  const extra = status.traceStore ? `\n\ntrace store: ${status.traceStore.url} (Zipkin API: /api/v2/services, /api/v2/traces; proxies send to zipkin.istio-system:9411)` : "";
  return table(rows) + extra;
}

function stateWord(state: string, lastExit?: string): string {
  if (state === "running") return "Running";
  if (state === "starting") return "Starting";
  if (state === "backoff") return `CrashLoopBackOff${lastExit ? ` (${lastExit})` : ""}`;
  return "Stopped";
}

const USAGE = "usage: skiff status [-o table|json]\n\nShows the running mesh's replicas, READY (app and sidecar), state, restarts, endpoint and proxy sync state.";

export const run = command({ name: "status", usage: USAGE, options: { output: { type: "string", short: "o", default: "table" } } }, async ({ values }) => {
  const output = choiceOption(values.output, "-o", ["table", "json"]);
  const dir = runDir();
  const state = runningMesh(dir);
  if (!state) {
    console.error(`skiff status: ${new NoMeshError(dir).message}`);
    return 1;
  }
  const { body: status } = await callMesh<MeshStatus>(state.apiPort, "GET", "/status");
  const syncz = await getJson<SyncEntry[]>(state.monitoringPort, "/debug/syncz");
  if (output === "json") {
    console.log(JSON.stringify({ ...status, syncz: syncz ?? null }, null, 2));
    return 0;
  }
  console.log(render(status, syncz));
  return 0;
});
