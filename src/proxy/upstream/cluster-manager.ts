// Placeholder until the implementation lands; the interface is in ./types.ts.
import type { ApplyResult, ClusterChangeEvent, ClusterDump, ClusterManagerApi, ClusterManagerOptions, EnvoyJson, StatEntry, UpstreamCluster } from "./types.ts";

export class ClusterManager implements ClusterManagerApi {
  constructor(_options: ClusterManagerOptions = {}) {}
  applyClusters(_clusters: EnvoyJson[]): ApplyResult { return { ok: false, errors: [{ resource: "", field: "", message: "not implemented yet" }] }; }
  applyEndpoints(_a: EnvoyJson[]): ApplyResult { return { ok: false, errors: [{ resource: "", field: "", message: "not implemented yet" }] }; }
  get(_name: string): UpstreamCluster | undefined { return undefined; }
  names(): string[] { return []; }
  edsResourceNames(): string[] { return []; }
  warmingClusters(): string[] { return []; }
  onChange(_l: (event: ClusterChangeEvent) => void): () => void { return () => {}; }
  dump(): ClusterDump[] { return []; }
  stats(): StatEntry[] { return []; }
  async close(): Promise<void> {}
}
