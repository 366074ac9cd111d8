// `skiff prometheus-config [--run-dir DIR | --control-plane URL]`: prints a Prometheus
// scrape config (prometheus.yml) for a running mesh, with Istio's job names and labels:
// `kubernetes-pods` scrapes every proxy's merged port (Istio's 15020: the proxy's and the
// app's metrics, which is where Istio's injector points a pod's prometheus.io/*
// annotations), `envoy-stats` a proxy's own stats port (15090) when merging is off
// (--no-merge) or the proxy has no merged port, `pilot` the control plane's /metrics.
// Targets are the mesh's own: 127.0.0.1, or the replicas' bridge addresses in netns mode.
import { stringify } from "yaml";
import { NoMeshError, callMesh, runDir, runningMesh, type MeshStatus } from "../../runtime/client.ts";
import { command, UsageError } from "../command.ts";

export const summary = "print a Prometheus scrape config (prometheus.yml) for the running mesh's proxies and control plane";

const USAGE = `usage: skiff prometheus-config [--run-dir DIR | --control-plane URL] [--proxy HOST:PORT...] [--no-merge] [--scrape-interval 15s]

  --run-dir DIR          the running local mesh (skiff up) to read proxies from (default: the usual run directory)
  --control-plane URL    a control plane's monitoring address (http://127.0.0.1:15014): the pilot job only,
                         plus --proxy targets (its /debug/syncz does not carry proxies' admin ports)
  --proxy HOST:PORT      a proxy admin or stats address to scrape as well (repeatable; 127.0.0.1 only)
  --no-merge             scrape each proxy's stats port (15090, job envoy-stats) rather than its merged
                         port (15020, job kubernetes-pods, which adds the app's own metrics)
  --scrape-interval DUR  Prometheus scrape interval (default 15s)

Writes the YAML to stdout: skiff prometheus-config > prometheus.yml && prometheus --config.file=prometheus.yml`;

/** One proxy to scrape, with the labels Istio's kubernetes_sd relabeling would give it. */
export interface ScrapeProxy {
  /** host:port of the proxy's admin endpoint (serves /stats/prometheus): used when it has no stats port. */
  target: string;
  /** host:port of its stats port (Istio's 15090). */
  stats?: string;
  /** host:port of its merged-metrics port (Istio's 15020). */
  merge?: string;
  /** An address of the running mesh's own (a netns replica's): allowed off loopback. */
  meshAddress?: boolean;
  namespace: string;
  /** Pod-like name (replica or gateway). */
  pod: string;
  labels?: Record<string, string>;
}

export interface ScrapeInput {
  /** host:port of the control plane's monitoring endpoint. */
  pilot?: string;
  proxies: ScrapeProxy[];
  scrapeInterval?: string;
  /** false: every proxy under envoy-stats on its stats port, no app metrics. Default true. */
  merge?: boolean;
}

const LOOPBACK = /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|\[::1\]|localhost):\d{1,5}$/;

/** Prometheus label names: Kubernetes label keys with anything but [a-zA-Z0-9_] made `_`, as labelmap does. */
function labelName(key: string): string {
  return key.replace(/[^a-zA-Z0-9_]/g, "_");
}

/**
 * The prometheus.yml document. Each proxy is its own static group so it carries its own
 * `namespace` and `pod` labels (Istio's relabeling of `__meta_kubernetes_namespace` and
 * `__meta_kubernetes_pod_name`) and its workload labels (Istio's labelmap of pod labels).
 */
export function buildPrometheusConfig(input: ScrapeInput): Record<string, unknown> {
  const outside = [...(input.pilot ? [input.pilot] : []), ...input.proxies.filter((p) => !p.meshAddress).flatMap((p) => [p.target, ...(p.stats ? [p.stats] : []), ...(p.merge ? [p.merge] : [])])];
  for (const t of outside) {
    if (!LOOPBACK.test(t)) throw new Error(`target "${t}" is not on 127.0.0.1; the local mesh is scraped on loopback only`);
  }
  const scrapeConfigs: Record<string, unknown>[] = [];
  if (input.pilot) {
    scrapeConfigs.push({ job_name: "pilot", metrics_path: "/metrics", static_configs: [{ targets: [input.pilot], labels: { app: "istiod", namespace: "istio-system" } }] });
  }
  const sorted = [...input.proxies].sort((a, b) => (a.namespace + a.pod < b.namespace + b.pod ? -1 : 1));
  const merge = input.merge ?? true;
  // A proxy is scraped once: double scraping would count every istio_* series twice.
  const merged = merge ? sorted.filter((p) => p.merge) : [];
  const own = sorted.filter((p) => !merged.includes(p));
  const group = (p: ScrapeProxy, target: string) => ({
    targets: [target],
    labels: {
      ...Object.fromEntries(Object.entries(p.labels ?? {}).map(([k, v]) => [labelName(k), v])),
      namespace: p.namespace,
      pod: p.pod,
    },
  });
  if (merged.length > 0) {
    scrapeConfigs.push({ job_name: "kubernetes-pods", metrics_path: "/stats/prometheus", static_configs: merged.map((p) => group(p, p.merge!)) });
  }
  if (own.length > 0 || merged.length === 0) {
    scrapeConfigs.push({ job_name: "envoy-stats", metrics_path: "/stats/prometheus", static_configs: own.map((p) => group(p, p.stats ?? p.target)) });
  }
  return { global: { scrape_interval: input.scrapeInterval ?? "15s" }, scrape_configs: scrapeConfigs };
}

/** Proxies and control plane of a running local mesh, from its local API's /status. */
export function scrapeInputFromStatus(status: MeshStatus): ScrapeInput {
  const proxies: ScrapeProxy[] = [];
  for (const r of status.replicas) {
    if (!r.sidecar) continue;
    // netns mode: the sidecar listens on the replica's own address (Istio's fixed ports).
    const host = r.address ?? "127.0.0.1";
    proxies.push({
      target: `${host}:${r.sidecar.adminPort}`,
      ...(r.sidecar.statsPort ? { stats: `${host}:${r.sidecar.statsPort}` } : {}),
      ...(r.sidecar.mergePort ? { merge: `${host}:${r.sidecar.mergePort}` } : {}),
      ...(r.address ? { meshAddress: true } : {}),
      namespace: r.namespace,
      pod: r.name,
    });
  }
  const g = status.gateway;
  proxies.push({
    target: `127.0.0.1:${g.adminPort}`,
    ...(g.statsPort ? { stats: `127.0.0.1:${g.statsPort}` } : {}),
    ...(g.mergePort ? { merge: `127.0.0.1:${g.mergePort}` } : {}),
    namespace: g.namespace,
    pod: g.name,
    labels: { istio: "ingressgateway" },
  });
  return { pilot: `127.0.0.1:${status.monitoringPort}`, proxies };
}

function hostPortOf(url: string): string {
  const u = new URL(url.includes("://") ? url : `http://${url}`);
  return `${u.hostname === "localhost" ? "127.0.0.1" : u.hostname}:${u.port || "15014"}`;
}

export const run = command(
  {
    name: "prometheus-config",
    usage: USAGE,
    options: {
      "run-dir": { type: "string" },
      "control-plane": { type: "string" },
      proxy: { type: "string", multiple: true },
      "scrape-interval": { type: "string" },
      "no-merge": { type: "boolean", default: false },
    },
  },
  async ({ values }) => {
    if (values["run-dir"] && values["control-plane"]) throw new UsageError("use --run-dir or --control-plane, not both");
    const extra: ScrapeProxy[] = (values.proxy ?? []).map((t, i) => ({ target: t, namespace: "unknown", pod: `proxy-${i}` }));
    let input: ScrapeInput;
    if (values["control-plane"]) {
      input = { pilot: hostPortOf(values["control-plane"]), proxies: extra };
    } else {
      const dir = values["run-dir"] ?? runDir();
      const state = runningMesh(dir);
      if (!state) throw new NoMeshError(dir);
      const { status, body } = await callMesh<MeshStatus>(state.apiPort, "GET", "/status");
      if (status !== 200) throw new Error(`the mesh's local API answered ${status} to /status`);
      const fromMesh = scrapeInputFromStatus(body);
      input = { ...fromMesh, proxies: [...fromMesh.proxies, ...extra] };
    }
    if (values["scrape-interval"]) input.scrapeInterval = values["scrape-interval"];
    if (values["no-merge"]) input.merge = false;
    process.stdout.write(stringify(buildPrometheusConfig(input)));
    return 0;
  },
);
