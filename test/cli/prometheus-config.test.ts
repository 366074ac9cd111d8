// `skiff prometheus-config`: the generated prometheus.yml, checked by Prometheus' own
// `promtool check config`, and the command run as a process against a running mesh's
// local API (a stand-in server on 127.0.0.1 answering /status as the runtime does).
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile, spawnSync } from "node:child_process";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse } from "yaml";
import { buildPrometheusConfig, scrapeInputFromStatus } from "../../src/cli/commands/prometheus-config.ts";
import type { MeshStatus } from "../../src/runtime/client.ts";
import { writeState } from "../../src/runtime/run-dir.ts";

const repo = join(import.meta.dirname, "..", "..");
const hasPromtool = spawnSync("promtool", ["--version"]).status === 0;

const status: MeshStatus = {
  replicas: [
    {
      name: "sa-logic-v1-0",
      workload: "sa-logic",
      namespace: "default",
      ready: true,
      readyCount: 2,
      containers: 2,
      app: { state: "running", ready: true, restarts: 0, ports: [] as never },
      sidecar: { state: "running", ready: true, restarts: 0, httpProxyPort: 41001, adminPort: 41002, nodeId: "sidecar~127.0.0.1~sa-logic-v1-0.default~default.svc.cluster.local" },
    },
    {
      name: "sa-webapp-0",
      workload: "sa-webapp",
      namespace: "web",
      ready: true,
      readyCount: 2,
      containers: 2,
      app: { state: "running", ready: true, restarts: 0, ports: [] as never },
      sidecar: { state: "running", ready: true, restarts: 0, httpProxyPort: 41003, adminPort: 41004, nodeId: "sidecar~127.0.0.1~sa-webapp-0.web~web.svc.cluster.local" },
    },
  ],
  gateway: { name: "istio-ingressgateway", namespace: "istio-system", state: "running", ready: true, httpPort: 8080, adminPort: 41005, nodeId: "router~127.0.0.1~istio-ingressgateway.istio-system~istio-system.svc.cluster.local" },
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

test("every sidecar and the gateway under envoy-stats, the control plane under pilot, with namespace and pod labels", () => {
  const config = buildPrometheusConfig(scrapeInputFromStatus(status)) as { scrape_configs: Job[] };
  const [pilot, envoy] = config.scrape_configs;
  assert.equal(pilot.job_name, "pilot");
  assert.deepEqual(pilot.static_configs[0].targets, ["127.0.0.1:41006"]);
  assert.equal(envoy.job_name, "envoy-stats");
  assert.equal(envoy.metrics_path, "/stats/prometheus");
  assert.deepEqual(
    envoy.static_configs.map((s) => [s.targets[0], s.labels.namespace, s.labels.pod]),
    [
      ["127.0.0.1:41002", "default", "sa-logic-v1-0"],
      ["127.0.0.1:41005", "istio-system", "istio-ingressgateway"],
      ["127.0.0.1:41004", "web", "sa-webapp-0"],
    ],
  );
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
    assert.equal(config.scrape_configs.find((j) => j.job_name === "envoy-stats")?.static_configs.length, 3);
    const check = promtool(stdout);
    assert.ok(check.ok, check.output);
  } finally {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
