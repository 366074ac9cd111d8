// The set of clusters a proxy knows, driven by CDS (state of the world) and EDS. An update
// is all-or-nothing: if any resource is invalid nothing changes and the errors become the
// NACK. A cluster whose config is unchanged keeps its hosts, pools and stats; a changed one
// is rebuilt (old pools drain) and an EDS cluster keeps the last assignment of its service
// name, so replacing it does not make it warm again.
import { lookup } from "node:dns/promises";
import { ClusterImpl } from "./cluster.ts";
import type { ClusterDeps } from "./cluster.ts";
import { parseCluster, parseLoadAssignment } from "./config.ts";
import type { EndpointSpec, ParsedCluster } from "./config.ts";
import { clusterStatEntries } from "./stats.ts";
import type {
  ApplyResult, ClusterChangeEvent, ClusterDump, ClusterManagerApi, ClusterManagerOptions, EnvoyJson, ResourceError,
  StatEntry, UpstreamCluster,
} from "./types.ts";

async function defaultResolve(hostname: string, family: "v4" | "v6" | "any"): Promise<string[]> {
  const results = await lookup(hostname, { all: true, family: family === "v4" ? 4 : family === "v6" ? 6 : 0 });
  return results.map((r) => r.address);
}

export class ClusterManager implements ClusterManagerApi {
  private readonly clusters = new Map<string, ClusterImpl>();
  private readonly assignments = new Map<string, { endpoints: EndpointSpec[]; json: EnvoyJson }>();
  private readonly listeners = new Set<(e: ClusterChangeEvent) => void>();
  private readonly deps: ClusterDeps;

  constructor(options: ClusterManagerOptions = {}) {
    this.deps = {
      now: options.now ?? Date.now,
      random: options.random ?? Math.random,
      setInterval:
        options.setInterval ??
        ((fn, ms) => {
          const t = setInterval(fn, ms);
          t.unref();
          return t;
        }),
      clearInterval: options.clearInterval ?? ((h) => clearInterval(h as NodeJS.Timeout)),
      resolve: options.resolve ?? defaultResolve,
      secrets: options.secrets,
    };
  }

  applyClusters(list: EnvoyJson[]): ApplyResult {
    const errors: ResourceError[] = [];
    const parsed: Array<{ json: EnvoyJson; cluster: ParsedCluster }> = [];
    const seen = new Set<string>();
    for (const json of list) {
      const r = parseCluster(json);
      errors.push(...r.errors);
      if (!r.cluster) continue;
      if (seen.has(r.cluster.name)) {
        errors.push({ resource: r.cluster.name, field: "name", message: `cluster "${r.cluster.name}": name: duplicate cluster name in one update; names must be unique` });
        continue;
      }
      seen.add(r.cluster.name);
      parsed.push({ json, cluster: r.cluster });
    }
    if (errors.length > 0) return { ok: false, errors };

    const event: ClusterChangeEvent = { added: [], removed: [], updated: [], edsResourceNames: [] };
    for (const [name, old] of this.clusters) {
      if (!seen.has(name)) {
        old.close();
        this.clusters.delete(name);
        event.removed.push(name);
      }
    }
    for (const { json, cluster } of parsed) {
      const old = this.clusters.get(cluster.name);
      if (old && JSON.stringify(old.config) === JSON.stringify(json)) continue;
      const fresh = new ClusterImpl(json, cluster, this.deps);
      if (cluster.type === "EDS") {
        const known = this.assignments.get(cluster.edsServiceName!);
        if (known) fresh.setEndpoints(known.endpoints, known.json);
      }
      if (old) {
        old.close();
        event.updated.push(cluster.name);
      } else {
        event.added.push(cluster.name);
      }
      this.clusters.set(cluster.name, fresh);
    }
    event.edsResourceNames = this.edsResourceNames();
    if (event.added.length || event.removed.length || event.updated.length) {
      for (const l of this.listeners) l(event);
    }
    return { ok: true, errors: [] };
  }

  applyEndpoints(list: EnvoyJson[]): ApplyResult {
    const errors: ResourceError[] = [];
    const parsed: Array<{ name: string; endpoints: EndpointSpec[]; json: EnvoyJson }> = [];
    for (const json of list) {
      const r = parseLoadAssignment(json);
      errors.push(...r.errors);
      if (!r.endpoints) continue;
      parsed.push({ name: r.name, endpoints: r.endpoints, json });
    }
    if (errors.length > 0) return { ok: false, errors };
    for (const a of parsed) {
      this.assignments.set(a.name, { endpoints: a.endpoints, json: a.json });
      for (const c of this.clusters.values()) {
        if (c.type === "EDS" && c.parsed.edsServiceName === a.name) c.setEndpoints(a.endpoints, a.json);
      }
    }
    return { ok: true, errors: [] };
  }

  get(name: string): UpstreamCluster | undefined {
    return this.clusters.get(name);
  }

  names(): string[] {
    return [...this.clusters.keys()].sort();
  }

  edsResourceNames(): string[] {
    const names = new Set<string>();
    for (const c of this.clusters.values()) if (c.type === "EDS") names.add(c.parsed.edsServiceName!);
    return [...names].sort();
  }

  warmingClusters(): string[] {
    return [...this.clusters.values()].filter((c) => c.warming).map((c) => c.name).sort();
  }

  onChange(listener: (event: ClusterChangeEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  dump(): ClusterDump[] {
    return this.names().map((n) => this.clusters.get(n)!.dump());
  }

  stats(): StatEntry[] {
    return this.names().flatMap((n) => clusterStatEntries(n, this.clusters.get(n)!.stats));
  }

  async close(): Promise<void> {
    for (const c of this.clusters.values()) c.close(true);
    this.clusters.clear();
  }
}
