// `skiff proxy-config KIND PROXY`: what a proxy runs, from its /config_dump, as tables like
// istioctl's (or the raw dump with -o json). PROXY is named as istioctl names pods
// (REPLICA.NAMESPACE, deploy/WORKLOAD, the gateway, a node id: see ../proxy-target.ts),
// or given as an admin address for a proxy outside `skiff up`.
import { secretTable } from "../../proxy/index.ts";
import { runDir, runningMesh } from "../../runtime/client.ts";
import { choiceOption, command, UsageError } from "../command.ts";
import { isAdminAddress, ProxyTargetError, resolveProxy, type ProxyTarget } from "../proxy-target.ts";

export const summary = "show a proxy's clusters, listeners, routes, endpoints or secrets (from its admin /config_dump)";

const USAGE = `usage: skiff proxy-config cluster|listener|route|endpoint|secret|all PROXY [-n NAMESPACE] [-o table|json]

  PROXY                a proxy of the running mesh (skiff up), as \`skiff status\` and
                       \`skiff proxy-status\` name it: REPLICA or REPLICA.NAMESPACE (sa-webapp-0.demo),
                       deploy/WORKLOAD (its first replica), istio-ingressgateway (or ingressgateway),
                       or the xDS node id; or any proxy's admin address:
                       http://127.0.0.1:15000, 127.0.0.1:15000 or a port
  -n, --namespace NS   look the name up in this namespace only
  -o, --output FORMAT  table (default) or json (the matching part of /config_dump; all: the whole dump)`;

type Json = Record<string, unknown>;
const kinds = { cluster: "ClustersConfigDump", listener: "ListenersConfigDump", route: "RoutesConfigDump", endpoint: "EndpointsConfigDump", secret: "SecretsConfigDump" } as const;
type Kind = keyof typeof kinds;

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  return [header, ...rows].map((r) => r.map((c, i) => (i === r.length - 1 ? c : (c ?? "").padEnd(widths[i]))).join("   ").trimEnd()).join("\n");
}

/** outbound|9080|v1|reviews.default.svc.cluster.local → [fqdn, port, subset, direction]. */
function splitClusterName(name: string): [string, string, string, string] {
  const parts = name.split("|");
  if (parts.length === 4) return [parts[3], parts[1], parts[2], parts[0]];
  return [name, "-", "-", "-"];
}

const obj = (v: unknown): Json => (v && typeof v === "object" ? (v as Json) : {});
const list = (v: unknown): Json[] => (Array.isArray(v) ? (v as Json[]) : []);

export function clusterTable(dump: Json): string {
  const rows: string[][] = [];
  for (const e of [...list(dump.static_clusters), ...list(dump.dynamic_active_clusters), ...list(dump.dynamic_warming_clusters)]) {
    const c = obj(e.cluster);
    const [fqdn, port, subset, direction] = splitClusterName(String(c.name));
    const type = c.type ? String(c.type) : c.cluster_type ? "CUSTOM" : "STATIC";
    const dr = obj(obj(obj(c.metadata).filter_metadata).istio).config;
    rows.push([fqdn, port, subset, direction, type, dr ? String(dr).split("/").slice(-1)[0] : ""]);
  }
  return table(["SERVICE FQDN", "PORT", "SUBSET", "DIRECTION", "TYPE", "DESTINATION RULE"], rows);
}

function chainSummary(chain: Json): { match: string; destination: string } {
  const m = obj(chain.filter_chain_match);
  const parts: string[] = [];
  if (list(m.prefix_ranges).length) parts.push(list(m.prefix_ranges).map((r) => `${String(r.address_prefix)}/${String(r.prefix_len ?? 0)}`).join(","));
  if (list(m.server_names).length) parts.push(`SNI: ${list(m.server_names).join(",")}`);
  if (m.transport_protocol) parts.push(`Trans: ${String(m.transport_protocol)}`);
  if (list(m.application_protocols).length) parts.push(`App: ${list(m.application_protocols).join(",")}`);
  const f = obj(list(chain.filters)[0]);
  const tc = obj(f.typed_config);
  let destination = String(f.name ?? "");
  if (String(tc["@type"]).endsWith("HttpConnectionManager")) destination = tc.rds ? `Route: ${String(obj(tc.rds).route_config_name)}` : "Route: (inline)";
  else if (String(tc["@type"]).endsWith("TcpProxy")) destination = `Cluster: ${String(tc.cluster)}`;
  return { match: parts.join("; ") || "ALL", destination };
}

export function listenerTable(dump: Json): string {
  const rows: string[][] = [];
  const listeners = [...list(dump.static_listeners).map((e) => obj(e.listener)), ...list(dump.dynamic_listeners).map((e) => obj(obj(e.active_state ?? e.warming_state).listener))];
  for (const l of listeners) {
    const sa = obj(obj(l.address).socket_address);
    const chains = [...list(l.filter_chains), ...(l.default_filter_chain ? [obj(l.default_filter_chain)] : [])];
    for (const ch of chains) {
      const m = obj(ch.filter_chain_match);
      const { match, destination } = chainSummary(ch);
      rows.push([String(sa.address ?? ""), String(m.destination_port ?? sa.port_value ?? 0), match, destination]);
    }
    if (chains.length === 0) rows.push([String(sa.address ?? ""), String(sa.port_value ?? 0), "ALL", "-"]);
  }
  return table(["ADDRESS", "PORT", "MATCH", "DESTINATION"], rows);
}

export function routeTable(dump: Json): string {
  const rows: string[][] = [];
  for (const e of list(dump.dynamic_route_configs)) {
    const rc = obj(e.route_config);
    for (const vh of list(rc.virtual_hosts)) {
      for (const r of list(vh.routes)) {
        const m = obj(r.match);
        const match = m.prefix !== undefined ? `${String(m.prefix)}*` : m.path !== undefined ? String(m.path) : m.safe_regex ? `~${String(obj(m.safe_regex).regex)}` : "";
        rows.push([String(rc.name), list(vh.domains).slice(0, 2).join(", ") + (list(vh.domains).length > 2 ? " + more" : ""), match, String(r.name ?? vh.name ?? "")]);
      }
    }
  }
  return table(["NAME", "DOMAINS", "MATCH", "VIRTUAL SERVICE"], rows);
}

export function endpointTable(dump: Json): string {
  const rows: string[][] = [];
  for (const e of list(dump.dynamic_endpoint_configs)) {
    const cla = obj(e.endpoint_config);
    for (const loc of list(cla.endpoints)) {
      for (const lb of list(loc.lb_endpoints)) {
        const sa = obj(obj(obj(lb.endpoint).address).socket_address);
        rows.push([`${String(sa.address)}:${String(sa.port_value)}`, String(lb.health_status ?? "HEALTHY"), String(cla.cluster_name)]);
      }
    }
  }
  return table(["ENDPOINT", "STATUS", "CLUSTER"], rows);
}

const formatters: Record<Kind, (dump: Json) => string> = { cluster: clusterTable, listener: listenerTable, route: routeTable, endpoint: endpointTable, secret: secretTable };

/** `all`: every kind's table under a heading, in istioctl's order. */
function allTables(configs: readonly Json[]): string {
  const order: Kind[] = ["cluster", "listener", "route", "endpoint", "secret"];
  return order.map((k) => `${k.toUpperCase()}S\n${formatters[k](dumpOf(configs, k))}`).join("\n\n");
}

const dumpOf = (configs: readonly Json[], kind: Kind): Json => configs.find((c) => c["@type"] === `type.googleapis.com/envoy.admin.v3.${kinds[kind]}`) ?? {};

export const run = command(
  {
    name: "proxy-config",
    usage: USAGE,
    options: { output: { type: "string", short: "o", default: "table" }, namespace: { type: "string", short: "n" } },
    positionals: true,
  },
  async ({ values, positionals }) => {
    const kindArg = (positionals[0] ?? "").replace(/s$/, "");
    if (!(kindArg in kinds || kindArg === "all") || positionals.length !== 2) {
      throw new UsageError("expected a kind (cluster, listener, route, endpoint, secret, all) and a proxy (its name in the running mesh or its admin address)");
    }
    const output = choiceOption(values.output, "--output", ["table", "json"]);
    const arg = positionals[1];
    let target: ProxyTarget;
    try {
      // Only a name needs the mesh's state; an address works with no mesh at all.
      target = resolveProxy(arg, isAdminAddress(arg) ? undefined : runningMesh(runDir()), values.namespace ? { namespace: values.namespace } : {});
    } catch (err) {
      if (!(err instanceof ProxyTargetError)) throw err;
      console.error(`skiff proxy-config: ${err.message}`);
      return 1;
    }
    if (target.note) console.error(`skiff proxy-config: ${target.note}`);
    const url = `${target.adminUrl}/config_dump`;
    let body: { configs?: Json[] };
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      body = (await res.json()) as { configs?: Json[] };
    } catch (err) {
      const reason = (err as Error).cause ? String(((err as Error).cause as Error).message) : (err as Error).message;
      const hint = target.record ? `is ${target.label} running? see \`skiff status\`` : "is the proxy running, and is that its admin port?";
      console.error(`skiff proxy-config: cannot read ${url}${target.record ? ` (${target.label})` : ""}: ${reason} (${hint})`);
      return 1;
    }
    const configs = body.configs ?? [];
    if (kindArg === "all") console.log(output === "json" ? JSON.stringify(body, null, 2) : allTables(configs));
    else {
      const dump = dumpOf(configs, kindArg as Kind);
      console.log(output === "json" ? JSON.stringify(dump, null, 2) : formatters[kindArg as Kind](dump));
    }
    return 0;
  },
);
