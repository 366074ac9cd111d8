// `skiff prometheus-config`: the generated prometheus.yml, checked by Prometheus' own
// `promtool check config`, and the command run as a process against a running mesh's
// local API (a stand-in server on 127.0.0.1 answering /status as the runtime does).
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile, spawn, spawnSync } from "node:child_process";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse, stringify } from "yaml";
import { buildPrometheusConfig, scrapeInputFromStatus } from "../../src/cli/commands/prometheus-config.ts";
import type { MeshStatus } from "../../src/runtime/client.ts";
import { writeState } from "../../src/runtime/run-dir.ts";

const repo = join(import.meta.dirname, "..", "..");
const hasPromtool = spawnSync("promtool", ["--version"]).status === 0;

type Replica = MeshStatus["replicas"][number];
/** A ready replica (app and sidecar running); only its name, place and sidecar ports differ. */
const replica = (o: { name: string; workload: string; namespace: string; address?: string; sidecar: Omit<NonNullable<Replica["sidecar"]>, "state" | "ready" | "restarts"> }): Replica => ({
  name: o.name,
  workload: o.workload,
  namespace: o.namespace,
  ...(o.address ? { address: o.address } : {}),
  ready: true,
  readyCount: 2,
  containers: 2,
  app: { state: "running", ready: true, restarts: 0, ports: [] as never },
  sidecar: { state: "running", ready: true, restarts: 0, ...o.sidecar },
});

const status: MeshStatus = {
  replicas: [
    replica({ name: "sa-logic-v1-0", workload: "sa-logic", namespace: "default", sidecar: { httpProxyPort: 41001, adminPort: 41002, statsPort: 41011, mergePort: 41012, nodeId: "sidecar~127.0.0.1~sa-logic-v1-0.default~default.svc.cluster.local" } }),
    replica({ name: "sa-webapp-0", workload: "sa-webapp", namespace: "web", sidecar: { httpProxyPort: 41003, adminPort: 41004, statsPort: 41013, mergePort: 41014, nodeId: "sidecar~127.0.0.1~sa-webapp-0.web~web.svc.cluster.local" } }),
    // A netns replica: its sidecar on its own address, Istio's fixed ports.
    replica({ name: "sa-feedback-0", workload: "sa-feedback", namespace: "web", address: "198.18.0.7", sidecar: { httpProxyPort: 0, adminPort: 15000, statsPort: 15090, mergePort: 15020, nodeId: "sidecar~198.18.0.7~sa-feedback-0.web~web.svc.cluster.local" } }),
    // A proxy that reports no Prometheus ports: scraped on its admin port.
    replica({ name: "legacy-0", workload: "legacy", namespace: "old", sidecar: { httpProxyPort: 41008, adminPort: 41009, nodeId: "sidecar~127.0.0.1~legacy-0.old~old.svc.cluster.local" } }),
  ],
  gateway: { name: "istio-ingressgateway", namespace: "istio-system", state: "running", ready: true, httpPort: 8080, adminPort: 41005, statsPort: 41015, mergePort: 41016, nodeId: "router~127.0.0.1~istio-ingressgateway.istio-system~istio-system.svc.cluster.local" },
  monitoringPort: 41006,
  xdsPort: 41007,
};

interface Job {
  job_name: string;
  metrics_path: string;
  static_configs: { targets: string[]; labels: Record<string, string> }[];
}

function promtool(yamlText: string): { ok: boolean; output: string } {
  const dir = mkdtempSync(join(tmpdir(), "skiff-prom-"));
  try {
    const file = join(dir, "prometheus.yml");
    writeFileSync(file, yamlText);
    const r = spawnSync("promtool", ["check", "config", file], { encoding: "utf8", timeout: 20_000 });
    return { ok: r.status === 0, output: `${r.stdout}${r.stderr}` };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const targetsOf = (job: Job | undefined) => job?.static_configs.map((s) => [s.targets[0], s.labels.namespace, s.labels.pod]);

test("proxies' merged ports (15020) under kubernetes-pods, one without under envoy-stats, the control plane under pilot", () => {
  const config = buildPrometheusConfig(scrapeInputFromStatus(status)) as { scrape_configs: Job[] };
  const [pilot, pods, envoy] = config.scrape_configs;
  assert.equal(pilot.job_name, "pilot");
  assert.deepEqual(pilot.static_configs[0].targets, ["127.0.0.1:41006"]);
  assert.equal(pods.job_name, "kubernetes-pods");
  assert.equal(pods.metrics_path, "/stats/prometheus");
  assert.deepEqual(targetsOf(pods), [
    ["127.0.0.1:41012", "default", "sa-logic-v1-0"],
    ["127.0.0.1:41016", "istio-system", "istio-ingressgateway"],
    ["198.18.0.7:15020", "web", "sa-feedback-0"],
    ["127.0.0.1:41014", "web", "sa-webapp-0"],
  ]);
  assert.equal(envoy.job_name, "envoy-stats");
  assert.deepEqual(targetsOf(envoy), [["127.0.0.1:41009", "old", "legacy-0"]]);
  assert.equal(config.scrape_configs.length, 3);
});

test("--no-merge: every proxy's stats port (15090) under envoy-stats, none under kubernetes-pods", () => {
  const config = buildPrometheusConfig({ ...scrapeInputFromStatus(status), merge: false }) as { scrape_configs: Job[] };
  assert.equal(config.scrape_configs.find((j) => j.job_name === "kubernetes-pods"), undefined);
  assert.deepEqual(targetsOf(config.scrape_configs.find((j) => j.job_name === "envoy-stats")), [
    ["127.0.0.1:41011", "default", "sa-logic-v1-0"],
    ["127.0.0.1:41015", "istio-system", "istio-ingressgateway"],
    ["127.0.0.1:41009", "old", "legacy-0"],
    ["198.18.0.7:15090", "web", "sa-feedback-0"],
    ["127.0.0.1:41013", "web", "sa-webapp-0"],
  ]);
});

test("targets off loopback are refused", () => {
  assert.throws(() => buildPrometheusConfig({ proxies: [{ target: "10.1.2.3:15000", namespace: "x", pod: "y" }] }), /not on 127\.0\.0\.1/);
});

test("`skiff prometheus-config` against a running mesh prints a config promtool accepts", { skip: hasPromtool ? false : "promtool not installed (Debian package prometheus)" }, async () => {
  const server = createServer((req, res) => {
    res.setHeader("content-type", "application/json");
    res.end(req.url === "/status" ? JSON.stringify(status) : "{}");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const dir = mkdtempSync(join(tmpdir(), "skiff-run-"));
  try {
    const port = (server.address() as AddressInfo).port;
    // The state file of a live mesh: our own pid is alive, the API is the stand-in server.
    writeState(dir, { pid: process.pid, startedAt: new Date(0).toISOString(), files: [], apiPort: port, xdsPort: 1, monitoringPort: 41006, gateway: { httpPort: 8080, adminPort: 41005 }, processes: [] });
    const stdout = await new Promise<string>((resolve, reject) =>
      execFile(process.execPath, [join(repo, "bin", "skiff.js"), "prometheus-config", "--run-dir", dir, "--scrape-interval", "5s"], { timeout: 20_000 }, (err, out, errOut) =>
        err ? reject(new Error(`${err.message}\n${errOut}`)) : resolve(out),
      ),
    );
    const config = parse(stdout) as { global: { scrape_interval: string }; scrape_configs: Job[] };
    assert.equal(config.global.scrape_interval, "5s");
    assert.equal(config.scrape_configs.find((j) => j.job_name === "kubernetes-pods")?.static_configs.length, 4);
    assert.equal(config.scrape_configs.find((j) => j.job_name === "envoy-stats")?.static_configs.length, 1);
    const check = promtool(stdout);
    assert.ok(check.ok, check.output);
  } finally {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

/** A free loopback port (Prometheus cannot report the port it bound for :0). */
async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, "127.0.0.1", resolve));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

const hasPrometheus = spawnSync("prometheus", ["--version"]).status === 0;

test("a real Prometheus scrapes the targets of the generated config with Istio's job names and labels", { skip: hasPrometheus ? false : "prometheus not installed (Debian package prometheus)", timeout: 60_000 }, async () => {
  // Stand-ins for a proxy's admin /stats/prometheus and the control plane's /metrics.
  const stats = createServer((req, res) => {
    res.setHeader("content-type", "text/plain; version=0.0.4");
    if (req.url === "/stats/prometheus") res.end('# TYPE istio_requests_total counter\nistio_requests_total{reporter="destination",destination_workload="sa-logic",response_code="200"} 7\n');
    else if (req.url === "/metrics") res.end("# TYPE pilot_xds_pushes counter\npilot_xds_pushes 3\n");
    else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => stats.listen(0, "127.0.0.1", resolve));
  const target = `127.0.0.1:${(stats.address() as AddressInfo).port}`;
  const dir = mkdtempSync(join(tmpdir(), "skiff-prom-run-"));
  const webPort = await freePort();
  const yamlText = stringify(buildPrometheusConfig({ pilot: target, proxies: [{ target, namespace: "default", pod: "sa-logic-v1-0" }], scrapeInterval: "1s" }));
  writeFileSync(join(dir, "prometheus.yml"), yamlText);
  const prom = spawn("prometheus", [`--config.file=${join(dir, "prometheus.yml")}`, `--storage.tsdb.path=${join(dir, "data")}`, `--web.listen-address=127.0.0.1:${webPort}`], { stdio: "ignore" });
  try {
    const query = async (q: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]> => {
      try {
        const res = await fetch(`http://127.0.0.1:${webPort}/api/v1/query?query=${encodeURIComponent(q)}`);
        const body = (await res.json()) as { data?: { result?: { metric: Record<string, string>; value: [number, string] }[] } };
        return body.data?.result ?? [];
      } catch {
        return []; // not up yet
      }
    };
    let requests: Awaited<ReturnType<typeof query>> = [];
    let pilot: Awaited<ReturnType<typeof query>> = [];
    for (let i = 0; i < 80 && (requests.length === 0 || pilot.length === 0); i++) {
      await new Promise((r) => setTimeout(r, 500));
      requests = await query("istio_requests_total");
      pilot = await query("pilot_xds_pushes");
    }
    assert.equal(requests.length, 1, "Prometheus never scraped the proxy target");
    assert.deepEqual(
      { job: requests[0].metric.job, namespace: requests[0].metric.namespace, pod: requests[0].metric.pod, dest: requests[0].metric.destination_workload, value: requests[0].value[1] },
      { job: "envoy-stats", namespace: "default", pod: "sa-logic-v1-0", dest: "sa-logic", value: "7" },
    );
    assert.equal(pilot[0]?.metric.job, "pilot");
  } finally {
    if (prom.exitCode === null && prom.signalCode === null) {
      const exited = new Promise((r) => prom.once("exit", r));
      prom.kill("SIGTERM");
      await exited;
    }
    stats.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
