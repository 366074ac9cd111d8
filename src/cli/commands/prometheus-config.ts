// `skiff prometheus-config [--run-dir DIR | --control-plane URL]`: prints a Prometheus
// scrape config (prometheus.yml) for a running mesh, with Istio's job names and labels:
// `envoy-stats` scrapes every proxy's /stats/prometheus (its admin port), `pilot` the
// control plane's /metrics. Targets are on 127.0.0.1 only: the local mesh runs there.
import { parseArgs } from "node:util";
import { stringify } from "yaml";
import { NoMeshError, callMesh, runDir, runningMesh, type MeshStatus } from "../../runtime/client.ts";

export const summary = "print a Prometheus scrape config (prometheus.yml) for the running mesh's proxies and control plane";

const USAGE = `usage: skiff prometheus-config [--run-dir DIR | --control-plane URL] [--proxy HOST:PORT...] [--scrape-interval 15s]

  --run-dir DIR          the running local mesh (skiff up) to read proxies from (default: the usual run directory)
  --control-plane URL    a control plane's monitoring address (http://127.0.0.1:15014): the pilot job only,
                         plus --proxy targets (its /debug/syncz does not carry proxies' admin ports)
  --proxy HOST:PORT      a proxy admin address to scrape as well (repeatable; 127.0.0.1 only)
  --scrape-interval DUR  Prometheus scrape interval (default 15s)

Writes the YAML to stdout: skiff prometheus-config > prometheus.yml && prometheus --config.file=prometheus.yml`;

/** One proxy to scrape, with the labels Istio's kubernetes_sd relabeling would give it. */
export interface ScrapeProxy {
  /** host:port of the proxy's admin endpoint (serves /stats/prometheus). */
  target: string;
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
  for (const t of [...(input.pilot ? [input.pilot] : []), ...input.proxies.map((p) => p.target)]) {
    if (!LOOPBACK.test(t)) throw new Error(`target "${t}" is not on 127.0.0.1; the local mesh is scraped on loopback only`);
  }
  const scrapeConfigs: Record<string, unknown>[] = [];
  if (input.pilot) {
    scrapeConfigs.push({ job_name: "pilot", metrics_path: "/metrics", static_configs: [{ targets: [input.pilot], labels: { app: "istiod", namespace: "istio-system" } }] });
  }
  const sorted = [...input.proxies].sort((a, b) => (a.namespace + a.pod < b.namespace + b.pod ? -1 : 1));
  scrapeConfigs.push({
    job_name: "envoy-stats",
    metrics_path: "/stats/prometheus",
    static_configs: sorted.map((p) => ({
      targets: [p.target],
      labels: {
        ...Object.fromEntries(Object.entries(p.labels ?? {}).map(([k, v]) => [labelName(k), v])),
        namespace: p.namespace,
        pod: p.pod,
      },
    })),
  });
  return { global: { scrape_interval: input.scrapeInterval ?? "15s" }, scrape_configs: scrapeConfigs };
}

/** Proxies and control plane of a running local mesh, from its local API's /status. */
export function scrapeInputFromStatus(status: MeshStatus): ScrapeInput {
  const proxies: ScrapeProxy[] = [];
  for (const r of status.replicas) {
    if (!r.sidecar) continue;
    proxies.push({ target: `127.0.0.1:${r.sidecar.adminPort}`, namespace: r.namespace, pod: r.name });
  }
  const g = status.gateway;
  proxies.push({ target: `127.0.0.1:${g.adminPort}`, namespace: g.namespace, pod: g.name, labels: { istio: "ingressgateway" } });
  return { pilot: `127.0.0.1:${status.monitoringPort}`, proxies };
}

function hostPortOf(url: string): string {
  const u = new URL(url.includes("://") ? url : `http://${url}`);
  return `${u.hostname === "localhost" ? "127.0.0.1" : u.hostname}:${u.port || "15014"}`;
}

export async function run(args: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        "run-dir": { type: "string" },
        "control-plane": { type: "string" },
        proxy: { type: "string", multiple: true },
        "scrape-interval": { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    }));
  } catch (err) {
    console.error(`skiff prometheus-config: ${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (values["run-dir"] && values["control-plane"]) {
    console.error(`skiff prometheus-config: use --run-dir or --control-plane, not both\n\n${USAGE}`);
    return 2;
  }
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
  process.stdout.write(stringify(buildPrometheusConfig(input)));
  return 0;
}
