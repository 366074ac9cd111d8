// `skiff logs WORKLOAD [-c proxy] [--replica N] [-n NAMESPACE]`: the app's (or its
// sidecar's) log file under the run directory, for every replica of the workload.
import { readFileSync } from "node:fs";
import { NoMeshError, readState, runDir, type ProcessRecord } from "../../runtime/client.ts";
import { choiceOption, command, UsageError } from "../command.ts";
import { matchProcesses, parseProxyQuery, ProxyTargetError, type ProxyQuery } from "../proxy-target.ts";

export const summary = "show a workload's app or proxy logs (skiff up)";

const USAGE = `usage: skiff logs WORKLOAD [-c app|proxy] [-n NAMESPACE]

  WORKLOAD        a Workload name (or deploy/NAME), a replica name (sa-logic-0, pod/sa-logic-0),
                  either with .NAMESPACE, a proxy's node id, or istio-ingressgateway (ingressgateway)
  -c, --container app (default) or proxy (the sidecar)
  -n, --namespace only this namespace`;

export const run = command(
  {
    name: "logs",
    usage: USAGE,
    options: { container: { type: "string", short: "c", default: "app" }, namespace: { type: "string", short: "n" } },
    positionals: true,
  },
  async ({ values, positionals }) => {
    const name = positionals[0];
    if (!name || positionals.length > 1) throw new UsageError("give one workload name");
    const container = choiceOption(values.container, "-c", ["app", "proxy"]);
    const dir = runDir();
    // Logs stay readable after a crash of `skiff up` itself, so a stale state file is fine here.
    const state = readState(dir);
    if (!state) {
      console.error(`skiff logs: ${new NoMeshError(dir).message}`);
      return 1;
    }
    const roles: ProcessRecord["role"][] = container === "proxy" ? ["sidecar", "gateway"] : ["app"];
    // The same names as the proxy commands (../proxy-target.ts), but every replica is shown.
    let query: ProxyQuery;
    try {
      query = parseProxyQuery(name, values.namespace);
    } catch (err) {
      if (!(err instanceof ProxyTargetError)) throw err;
      console.error(`skiff logs: ${err.message}`);
      return 1;
    }
    // A node id names the sidecar; its app's log is the same replica's.
    const nodeMatches = query.by === "node" ? matchProcesses(query, state.processes) : [];
    const matches =
      query.by === "node" && container === "app"
        ? state.processes.filter((p) => p.role === "app" && nodeMatches.some((s) => s.name === p.name && s.namespace === p.namespace))
        : matchProcesses(query, state.processes, roles);
    if (matches.length === 0) {
      const known = [...new Set(state.processes.map((p) => `${p.namespace}/${p.workload}`))].sort().join(", ");
      const gateway = matchProcesses(query, state.processes, ["gateway"]).length > 0;
      const hint = gateway && container === "app" ? " (the gateway is a proxy: use -c proxy)" : "";
      console.error(`skiff logs: no ${container === "proxy" ? "proxy" : "app"} named "${name}"${hint}; workloads: ${known || "none"}`);
      return 1;
    }
    for (const p of matches) {
      if (matches.length > 1) console.log(`==> ${p.namespace}/${p.name}${p.role === "app" ? "" : " (proxy)"} <==`);
      try {
        process.stdout.write(readFileSync(p.logFile, "utf8"));
      } catch {
        console.log(`(no log yet: ${p.logFile})`);
      }
    }
    return 0;
  },
);
