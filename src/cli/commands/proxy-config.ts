// `skiff proxy-config cluster|listener|route|endpoint <admin-address>`: what a proxy runs,
// from its /config_dump, as tables like istioctl's (or the raw dump with -o json).
import { secretTable } from "../../proxy/index.ts";
import { choiceOption, command, UsageError } from "../command.ts";

export const summary = "show a proxy's clusters, listeners, routes or endpoints (from its admin /config_dump)";

const USAGE = `usage: skiff proxy-config cluster|listener|route|endpoint|secret ADMIN [-o table|json]

  ADMIN                the proxy's admin address: http://127.0.0.1:15000, 127.0.0.1:15000 or a port
  -o, --output FORMAT  table (default) or json (the matching part of /config_dump)`;

type Json = Record<string, unknown>;
const kinds = { cluster: "ClustersConfigDump", listener: "ListenersConfigDump", route: "RoutesConfigDump", endpoint: "EndpointsConfigDump", secret: "SecretsConfigDump" } as const;
type Kind = keyof typeof kinds;

function adminUrl(arg: string): string {
  if (/^\d+$/.test(arg)) return `http://127.0.0.1:${arg}`;
  return arg.startsWith("http") ? arg.replace(/\/$/, "") : `http://${arg}`;
}

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

export const run = command(
  { name: "proxy-config", usage: USAGE, options: { output: { type: "string", short: "o", default: "table" } }, positionals: true },
  async ({ values, positionals }) => {
    const kindArg = (positionals[0] ?? "").replace(/s$/, "");
    if (!(kindArg in kinds) || positionals.length !== 2) throw new UsageError("expected a kind (cluster, listener, route, endpoint, secret) and the proxy's admin address");
    const output = choiceOption(values.output, "--output", ["table", "json"]);
    const kind = kindArg as Kind;
    const url = `${adminUrl(positionals[1])}/config_dump`;
    let body: { configs?: Json[] };
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      body = (await res.json()) as { configs?: Json[] };
    } catch (err) {
      console.error(`skiff proxy-config: cannot read ${url}: ${(err as Error).cause ? String(((err as Error).cause as Error).message) : (err as Error).message} (is the proxy running, and is that its admin port?)`);
      return 1;
    }
    const dump = (body.configs ?? []).find((c) => c["@type"] === `type.googleapis.com/envoy.admin.v3.${kinds[kind]}`) ?? {};
    console.log(output === "json" ? JSON.stringify(dump, null, 2) : formatters[kind](dump));
    return 0;
  },
);
