// `skiff logs WORKLOAD [-c proxy] [--replica N] [-n NAMESPACE]`: the app's (or its
// sidecar's) log file under the run directory, for every replica of the workload.
import { readFileSync } from "node:fs";
import { NoMeshError, readState, runDir, type ProcessRecord } from "../../runtime/client.ts";
import { choiceOption, command, UsageError } from "../command.ts";

export const summary = "show a workload's app or proxy logs (skiff up)";

const USAGE = `usage: skiff logs WORKLOAD [-c app|proxy] [-n NAMESPACE]

  WORKLOAD        a Workload name, a replica name (sa-logic-v1-0), or istio-ingressgateway
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
    const matches = state.processes.filter(
      (p) => roles.includes(p.role) && (p.workload === name || p.name === name) && (!values.namespace || p.namespace === values.namespace),
    );
    if (matches.length === 0) {
      const known = [...new Set(state.processes.map((p) => `${p.namespace}/${p.workload}`))].sort().join(", ");
      const hint = name === "istio-ingressgateway" && container === "app" ? " (the gateway is a proxy: use -c proxy)" : "";
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
