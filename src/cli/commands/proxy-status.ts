// `skiff proxy-status [--control-plane URL]`: the connected proxies and, per xDS type,
// whether they run what the control plane last sent, as `istioctl proxy-status` shows:
// SYNCED (sent and ACKed), STALE (sent, not ACKed yet, or rejected), NOT SENT. The
// last rejection (NACK) of each proxy is shown with its message.
import type { ProxySyncStatus, TypeSyncStatus } from "../../pilot/index.ts";
import { runDir, runningMesh, type MeshState } from "../../runtime/client.ts";
import { choiceOption, command } from "../command.ts";
import { matchProcesses, parseProxyQuery, ProxyTargetError } from "../proxy-target.ts";

export const summary = "show each connected proxy's xDS sync state (SYNCED / STALE / NOT SENT)";

const USAGE = `usage: skiff proxy-status [PROXY] [--control-plane URL] [--output table|json]

  PROXY                    only this proxy (node id, or NAME.NAMESPACE); with \`skiff up\` running, also
                           as \`skiff proxy-config\` takes it: deploy/WORKLOAD (every replica), ingressgateway
      --control-plane URL  the control plane's monitoring address (default: the running mesh's, else
                           http://127.0.0.1:15014)
  -o, --output FORMAT      table (default) or json`;

const TYPES = ["CDS", "LDS", "EDS", "RDS"] as const;

function cell(status: TypeSyncStatus | undefined): string {
  if (!status) return "NOT SENT";
  return status.lastNack && status.state !== "SYNCED" ? `${status.state} (NACK)` : status.state;
}

function lastNack(p: ProxySyncStatus): string {
  const nacks = Object.entries(p.types)
    .filter(([, s]) => s?.lastNack)
    .map(([type, s]) => ({ type, nack: s!.lastNack! }))
    .sort((a, b) => b.nack.at.localeCompare(a.nack.at));
  if (!nacks.length) return "";
  const { type, nack } = nacks[0];
  const message = nack.message.replace(/\s+/g, " ");
  return `${type} ${nack.version}: ${message.length > 100 ? `${message.slice(0, 97)}...` : message}`;
}

/** The table, columns padded to their widest cell. */
export function formatProxyStatus(proxies: readonly ProxySyncStatus[]): string {
  const header = ["NAME", "TYPE", "CLUSTER", ...TYPES, "LAST NACK"];
  const rows = proxies.map((p) => [p.podName, p.type, p.cluster, ...TYPES.map((t) => cell(p.types[t])), lastNack(p)]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  return [header, ...rows].map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join("   ").trimEnd()).join("\n");
}

/** The node ids and pod names the words mean: themselves, and what they name in the running mesh (../proxy-target.ts). */
function wantedIds(words: readonly string[], mesh: MeshState | undefined): Set<string> {
  const wanted = new Set(words);
  for (const word of words) {
    if (!mesh) continue;
    try {
      for (const p of matchProcesses(parseProxyQuery(word), mesh.processes)) {
        wanted.add(`${p.name}.${p.namespace}`);
        if (p.nodeId) wanted.add(p.nodeId);
      }
    } catch (err) {
      if (!(err instanceof ProxyTargetError)) throw err; // not a mesh name: kept as a literal id
    }
  }
  return wanted;
}

export const run = command(
  {
    name: "proxy-status",
    usage: USAGE,
    options: {
      "control-plane": { type: "string" },
      output: { type: "string", short: "o", default: "table" },
    },
    positionals: true,
  },
  async ({ values, positionals }) => {
    const output = choiceOption(values.output, "--output", ["table", "json"]);
    // `skiff up` puts its monitoring port anywhere; its state says where.
    const mesh = runningMesh(runDir());
    const base = (values["control-plane"] ?? (mesh ? `http://127.0.0.1:${mesh.monitoringPort}` : "http://127.0.0.1:15014")).replace(/\/+$/, "");
    let proxies: ProxySyncStatus[];
    try {
      const res = await fetch(`${base}/debug/syncz`, { signal: AbortSignal.timeout(10_000) });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      proxies = (await res.json()) as ProxySyncStatus[];
    } catch (err) {
      const inner = (err as { cause?: { code?: string; message?: string } }).cause;
      const cause = inner?.code ?? inner?.message ?? (err instanceof Error ? err.message : String(err));
      console.error(`skiff proxy-status: cannot read ${base}/debug/syncz (${cause}). Is \`skiff control-plane\` running there? Point at it with --control-plane URL.`);
      return 1;
    }
    if (positionals.length) {
      const wanted = wantedIds(positionals, mesh);
      proxies = proxies.filter((p) => wanted.has(p.proxy) || wanted.has(p.podName));
    }
    if (output === "json") console.log(JSON.stringify(proxies, null, 2));
    else if (proxies.length === 0) console.log(positionals.length ? `no connected proxy named ${positionals.join(", ")}` : "no proxies connected");
    else console.log(formatProxyStatus(proxies));
    return 0;
  },
);
