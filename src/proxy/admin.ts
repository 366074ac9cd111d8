// The admin endpoint (15000): Envoy's paths and output shapes so that tools and habits
// carry over — /config_dump, /listeners, /clusters, /stats, /stats/prometheus, /ready,
// /logging, /drain_listeners, /quitquitquit, /server_info.
import http from "node:http";
import type { AddressInfo } from "node:net";
import { logLevels, type LogLevel } from "./log.ts";
import type { Proxy } from "./proxy.ts";
import type { Json } from "./json.ts";
import { TypeUrl } from "../pilot/translate/types.ts";

const dumpType = (name: string): string => `type.googleapis.com/envoy.admin.v3.${name}`;

export const skiffProxyVersion = "skiff-proxy/0.1.0";

export function configDump(proxy: Proxy): Json {
  const xds = proxy.xds;
  const version = (t: "CDS" | "LDS" | "RDS" | "EDS"): string => xds?.typeStatus(t).version ?? "";
  const staticClusterNames = new Set(proxy.bootstrap.staticClusters.map((c) => String(c.name)));
  const clusters = proxy.clusters.dump();
  const withType = (json: Json, type: string): Json => ({ "@type": type, ...json });
  const staticListenerNames = new Set(proxy.bootstrap.staticListeners.map((l) => String(l.name)));
  const listeners = proxy.listeners.list();
  return {
    configs: [
      {
        "@type": dumpType("BootstrapConfigDump"),
        bootstrap: {
          node: { id: proxy.bootstrap.node.id, cluster: proxy.bootstrap.node.cluster, metadata: proxy.bootstrap.node.metadata, user_agent_name: "skiff-proxy" },
          admin: { address: { socket_address: { address: proxy.bootstrap.adminAddress, port_value: proxy.admin.port } } },
        },
        last_updated: proxy.startedAt.toISOString(),
      },
      {
        "@type": dumpType("ClustersConfigDump"),
        version_info: version("CDS"),
        static_clusters: clusters
          .filter((c) => staticClusterNames.has(c.name))
          .map((c) => ({ cluster: withType(c.config, TypeUrl.cluster), last_updated: c.lastUpdated.toISOString() })),
        dynamic_active_clusters: clusters
          .filter((c) => !staticClusterNames.has(c.name) && !c.warming)
          .map((c) => ({ version_info: version("CDS"), cluster: withType(c.config, TypeUrl.cluster), last_updated: c.lastUpdated.toISOString() })),
        dynamic_warming_clusters: clusters
          .filter((c) => !staticClusterNames.has(c.name) && c.warming)
          .map((c) => ({ version_info: version("CDS"), cluster: withType(c.config, TypeUrl.cluster), last_updated: c.lastUpdated.toISOString() })),
      },
      {
        "@type": dumpType("ListenersConfigDump"),
        version_info: version("LDS"),
        static_listeners: listeners
          .filter((l) => staticListenerNames.has(l.name) && l.active)
          .map((l) => ({ listener: withType(l.active!.json, TypeUrl.listener), last_updated: l.active!.lastUpdated.toISOString() })),
        dynamic_listeners: listeners
          .filter((l) => !staticListenerNames.has(l.name))
          .map((l) => {
            const entry: Json = { name: l.name };
            if (l.active) entry.active_state = { version_info: l.active.version, listener: withType(l.active.json, TypeUrl.listener), last_updated: l.active.lastUpdated.toISOString() };
            if (l.warming) entry.warming_state = { version_info: l.warming.version, listener: withType(l.warming.json, TypeUrl.listener), last_updated: l.warming.lastUpdated.toISOString() };
            const err = xds?.typeStatus("LDS").lastError;
            if (err && err.includes(`listener ${l.name}:`)) entry.error_state = { details: err };
            return entry;
          }),
      },
      {
        "@type": dumpType("RoutesConfigDump"),
        dynamic_route_configs: [...proxy.routes.values()]
          .sort((a, b) => (a.table.name < b.table.name ? -1 : 1))
          .map((r) => ({ version_info: r.version, route_config: withType(r.json, TypeUrl.route), last_updated: r.lastUpdated.toISOString() })),
      },
      secretsDump(proxy),
      {
        "@type": dumpType("EndpointsConfigDump"),
        dynamic_endpoint_configs: clusters
          .filter((c) => c.loadAssignment && !staticClusterNames.has(c.name))
          .map((c) => ({ version_info: version("EDS"), endpoint_config: withType(c.loadAssignment!, TypeUrl.endpoint), last_updated: c.lastUpdated.toISOString() })),
      },
    ],
  };
}

/** Envoy's SecretsConfigDump: SDS secrets with PEM as inline_bytes and private keys redacted. */
function secretsDump(proxy: Proxy): Json {
  const b64 = (pem: string): string => Buffer.from(pem, "utf8").toString("base64");
  return {
    "@type": dumpType("SecretsConfigDump"),
    dynamic_active_secrets: proxy.secrets.list().map(([name, e]) => {
      const secret: Json = { "@type": TypeUrl.secret, name };
      if (e.secret.certificateChain) secret.tls_certificate = { certificate_chain: { inline_bytes: b64(e.secret.certificateChain) }, private_key: { inline_string: "[redacted]" } };
      if (e.secret.trustedCa) secret.validation_context = { trusted_ca: { inline_bytes: b64(e.secret.trustedCa) } };
      return { name, version_info: e.version, last_updated: e.lastUpdated.toISOString(), secret };
    }),
  };
}

/** Envoy's /clusters text: `cluster::host:port::stat::value` lines. */
export function clustersText(proxy: Proxy): string {
  const lines: string[] = [];
  for (const c of proxy.clusters.dump().sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const n = c.name;
    lines.push(`${n}::observability_name::${n}`);
    for (const [k, v] of Object.entries(c.circuitBreakers)) lines.push(`${n}::default_priority::${k}::${v}`);
    lines.push(`${n}::added_via_api::${proxy.bootstrap.staticClusters.some((s) => s.name === n) ? "false" : "true"}`);
    for (const h of c.hosts) {
      const key = h.address.includes(":") ? `[${h.address}]:${h.port}` : `${h.address}:${h.port}`;
      for (const [k, v] of Object.entries(h.stats)) lines.push(`${n}::${key}::${k}::${v}`);
      if (h.hostname) lines.push(`${n}::${key}::hostname::${h.hostname}`);
      lines.push(`${n}::${key}::health_flags::${h.healthFlags}`);
      lines.push(`${n}::${key}::weight::${h.weight}`);
      lines.push(`${n}::${key}::region::${h.locality.region ?? ""}`);
      lines.push(`${n}::${key}::zone::${h.locality.zone ?? ""}`);
      lines.push(`${n}::${key}::sub_zone::${h.locality.sub_zone ?? ""}`);
      lines.push(`${n}::${key}::priority::${h.priority}`);
    }
  }
  return lines.join("\n") + (lines.length ? "\n" : "");
}

function listenersText(proxy: Proxy): string {
  return proxy.listeners
    .list()
    .filter((l) => l.active)
    .map((l) => `${l.name}::${l.active!.address}:${l.boundPort ?? l.active!.port}`)
    .join("\n");
}

function statsText(proxy: Proxy, filter: RegExp | undefined): string {
  const lines = proxy.stats.all().map((c) => `${c.name}: ${c.value}`);
  for (const e of proxy.clusters.stats()) lines.push(`${e.name}: ${e.value}`);
  const xds = proxy.xds;
  if (xds) {
    lines.push(`control_plane.connected_state: ${proxy.state() === "PRE_INITIALIZING" ? 0 : 1}`);
    lines.push(`cluster_manager.cds.update_rejected: ${xds.counters.nacks}`);
  }
  return (filter ? lines.filter((l) => filter.test(l.slice(0, l.indexOf(":")))) : lines).sort().join("\n") + "\n";
}

export class AdminServer {
  private readonly server: http.Server;
  port = 0;

  constructor(private readonly proxy: Proxy) {
    this.server = http.createServer((req, res) => {
      try {
        this.handle(req, res);
      } catch (err) {
        res.writeHead(500, { "content-type": "text/plain" });
        res.end(`admin error: ${(err as Error).message}\n`);
      }
    });
  }

  listen(address: string, port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once("error", (err: NodeJS.ErrnoException) =>
        reject(new Error(`cannot listen on admin address ${address}:${port}: ${err.code ?? err.message} (choose another with --admin-port)`)),
      );
      this.server.listen(port, address, () => {
        this.port = (this.server.address() as AddressInfo).port;
        resolve();
      });
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.closeAllConnections();
      this.server.close(() => resolve());
    });
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? "/", "http://admin");
    const send = (status: number, body: string, type = "text/plain; charset=UTF-8"): void => {
      res.writeHead(status, { "content-type": type, "cache-control": "no-cache, max-age=0" });
      res.end(body);
    };
    const json = (value: unknown): void => send(200, JSON.stringify(value, null, 2) + "\n", "application/json");
    const proxy = this.proxy;
    const mutating = ["/logging", "/drain_listeners", "/quitquitquit"];
    if (mutating.includes(url.pathname) && req.method !== "POST" && !(url.pathname === "/logging" && url.searchParams.size === 0)) {
      send(405, `This endpoint requires POST (e.g. curl -X POST ${url.pathname})\n`);
      return;
    }
    switch (url.pathname) {
      case "/config_dump":
        return json(configDump(proxy));
      case "/listeners":
        if (url.searchParams.get("format") === "json") {
          return json({
            listener_statuses: proxy.listeners
              .list()
              .filter((l) => l.active)
              .map((l) => ({ name: l.name, local_address: { socket_address: { address: l.active!.address, port_value: l.boundPort ?? l.active!.port } } })),
          });
        }
        return send(200, listenersText(proxy) + "\n");
      case "/clusters":
        if (url.searchParams.get("format") === "json") return json({ cluster_statuses: proxy.clusters.dump() });
        return send(200, clustersText(proxy));
      case "/stats":
        if (url.searchParams.get("format") === "json") {
          const stats = [...proxy.stats.all().map((c) => ({ name: c.name, value: c.value })), ...proxy.clusters.stats().map((e) => ({ name: e.name, value: e.value }))];
          return json({ stats });
        }
        {
          // Envoy's ?filter=REGEX selects stats by name.
          const f = url.searchParams.get("filter");
          let re: RegExp | undefined;
          try {
            re = f ? new RegExp(f) : undefined;
          } catch {
            return send(400, `invalid filter regex "${f}"\n`);
          }
          return send(200, statsText(proxy, re));
        }
      case "/stats/prometheus":
        return send(200, proxy.telemetry.exposition(), "text/plain; version=0.0.4");
      case "/ready": {
        const state = proxy.state();
        return send(state === "LIVE" ? 200 : 503, `${state}\n`);
      }
      case "/server_info":
        return json({
          version: skiffProxyVersion,
          state: proxy.state(),
          hot_restart_version: "disabled",
          command_line_options: { service_node: proxy.bootstrap.node.id, service_cluster: proxy.bootstrap.node.cluster, mode: proxy.bootstrap.mode },
          node: { id: proxy.bootstrap.node.id, cluster: proxy.bootstrap.node.cluster, metadata: proxy.bootstrap.node.metadata },
          uptime_current_epoch: `${Math.floor((Date.now() - proxy.startedAt.getTime()) / 1000)}s`,
          uptime_all_epochs: `${Math.floor((Date.now() - proxy.startedAt.getTime()) / 1000)}s`,
        });
      case "/logging": {
        const level = url.searchParams.get("level");
        if (level !== null) {
          if (!(logLevels as readonly string[]).includes(level)) return send(400, `unknown level "${level}"; use one of ${logLevels.join(", ")}\n`);
          proxy.logger.level = level as LogLevel;
        }
        return send(200, `active loggers:\n  skiff-proxy: ${proxy.logger.level}\n`);
      }
      case "/drain_listeners":
        void proxy.drain();
        return send(200, "OK\n");
      case "/quitquitquit":
        send(200, "OK\n");
        setImmediate(() => void proxy.quit());
        return;
      case "/":
      case "/help":
        return send(
          200,
          ["admin commands are:", "  /clusters", "  /config_dump", "  /drain_listeners (POST)", "  /listeners", "  /logging (POST ?level=)", "  /quitquitquit (POST)", "  /ready", "  /server_info", "  /stats", "  /stats/prometheus", ""].join("\n"),
        );
      default:
        return send(404, `invalid path ${url.pathname}; see /help\n`);
    }
  }
}
