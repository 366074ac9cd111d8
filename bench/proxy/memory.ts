// Memory (and start-up) of ONE Skiff sidecar, launched exactly as `skiff up` launches it
// (src/agent's proxyCommand: the same node flags, the same bin/skiff.js), at rest after
// xDS has loaded and under an open-loop 1,000 rps, with the CPU it took. A few minutes
// to compare two builds; the full comparison with HAProxy/nginx is bench/dataplane.
//
// npm run bench:proxy-memory [-- --no-bundle] [-- --node-flags "--max-semi-space-size=1"]
//   --no-bundle   run from sources through tsx (SKIFF_NO_BUNDLE=1), the way session 1 did
//   --node-flags  replace the proxy's node flags (default: proxyCommand's); "" for none
//   --heap-snapshot DIR  also write a V8 heap snapshot of the proxy at rest into DIR
//                 (summarize it: node --import tsx bench/lib/heapsnapshot.ts FILE)
// Env: BENCH_RATE (1000), BENCH_CONNECTIONS (4), BENCH_SECONDS (10), BENCH_WARMUP (3).
import { mkdtempSync, writeFileSync, mkdirSync, rmSync, readFileSync, readdirSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { ensureTools, toolPath } from "../lib/tools.ts";
import { start, stop, waitForOutput, freePort, sleep, type Started } from "../lib/procs.ts";
import { totalCpuSeconds, peakRssMb, rssMb } from "../lib/proc.ts";
import { round } from "../lib/stats.ts";
import * as conf from "../dataplane/configs.ts";
import { buildBootstrap, processSidecarMetadata, proxyCommand } from "../../src/agent/index.ts";

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const argv = process.argv.slice(2);
const noBundle = argv.includes("--no-bundle");
const flagsAt = argv.indexOf("--node-flags");
const snapshotAt = argv.indexOf("--heap-snapshot");
const snapshotDir = snapshotAt >= 0 ? path.resolve(argv[snapshotAt + 1] ?? ".") : undefined;
const num = (name: string, dflt: number): number => (process.env[name] ? Number(process.env[name]) : dflt);
const RATE = num("BENCH_RATE", 1000);
const CONNECTIONS = num("BENCH_CONNECTIONS", 4);
const SECONDS = num("BENCH_SECONDS", 10);
const WARMUP = num("BENCH_WARMUP", 3);
const LOAD_CPU = "0";
const PROXY_CPU = "1";

/** `node [flags] bin/skiff.js proxy --bootstrap FILE`, with the flags proxyCommand gives unless overridden. */
function sidecarArgs(bootstrapFile: string): string[] {
  const launch = proxyCommand(bootstrapFile);
  const bin = launch.args.findIndex((a) => a.endsWith(path.join("bin", "skiff.js")));
  const flags = flagsAt >= 0 ? (argv[flagsAt + 1] ?? "").split(/\s+/).filter(Boolean) : launch.args.slice(0, bin);
  const snapshot = snapshotDir ? ["--heapsnapshot-signal=SIGUSR2", `--diagnostic-dir=${snapshotDir}`] : [];
  return [...flags, ...snapshot, ...launch.args.slice(bin)];
}

/** Anonymous vs file-backed resident memory (the node binary's text is file-backed and shared). */
function rssParts(pid: number): { anon_mb: number; file_mb: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (k: string): number => Number(new RegExp(`^${k}:\\s+(\\d+)`, "m").exec(status)?.[1] ?? 0);
  return { anon_mb: round(kb("RssAnon") / 1024, 1), file_mb: round(kb("RssFile") / 1024, 1) };
}

/** Median wall time of `skiff version`, in ms (start-up cost of every skiff process). */
function versionStartupMs(env: NodeJS.ProcessEnv): number {
  const times: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t0 = process.hrtime.bigint();
    const r = spawnSync(process.execPath, [path.join(repo, "bin/skiff.js"), "version"], { env, encoding: "utf8", timeout: 60_000 });
    if (r.status !== 0) throw new Error(`skiff version failed: ${r.stderr}`);
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return round(times.sort((a, b) => a - b)[2], 0);
}

async function main(): Promise<void> {
  ensureTools();
  const env: NodeJS.ProcessEnv = { ...process.env, ...(noBundle ? { SKIFF_NO_BUNDLE: "1" } : {}) };
  // One untimed run first, so a stale bundle is rebuilt before anything is measured.
  versionStartupMs(env);
  const versionMs = versionStartupMs(env);
  const dir = mkdtempSync(path.join(tmpdir(), "skiff-bench-mem-"));
  const procs: Started[] = [];
  const launch = (p: Started): Started => (procs.push(p), p);
  try {
    const ports = { upstream: await freePort(), inbound: await freePort(), httpProxy: await freePort() };
    for (const d of ["nginx-upstream-body", "nginx-upstream-proxy"]) mkdirSync(path.join(dir, d));
    writeFileSync(path.join(dir, "upstream.conf"), conf.nginxUpstreamConf(dir, ports.upstream));
    launch(start("nginx upstream", LOAD_CPU, toolPath("nginx"), ["-c", path.join(dir, "upstream.conf"), "-p", dir]));
    writeFileSync(path.join(dir, "mesh.yaml"), conf.meshYaml(ports.inbound));
    const skiff = path.join(repo, "bin/skiff.js");
    const cp = launch(start("skiff control-plane", LOAD_CPU, process.execPath, [skiff, "control-plane", "-f", path.join(dir, "mesh.yaml"), "--xds-port", "0", "--monitoring-port", "0"], env));
    const xdsPort = Number((await waitForOutput(cp, /xDS on [\d.]+:(\d+)/))[1]);
    const file = path.join(dir, "sidecar.bootstrap.json");
    // The bootstrap `skiff up` writes for a process-mode sidecar (src/agent).
    const metadata = processSidecarMetadata({ labels: { app: "upstream" }, namespace: "default", serviceAccount: "upstream", workloadName: "upstream", httpProxyPort: ports.httpProxy, appPorts: { [ports.inbound]: ports.upstream } });
    writeFileSync(file, JSON.stringify(buildBootstrap({ kind: "sidecar", name: "upstream-0", namespace: "default", address: "127.0.0.1", xdsAddress: `127.0.0.1:${xdsPort}`, adminPort: 0, metadata })));
    const args = sidecarArgs(file);
    const t0 = Date.now();
    const sidecar = launch(start("skiff proxy", PROXY_CPU, process.execPath, args, env));
    const admin = (await waitForOutput(sidecar, /skiff proxy ready: admin (http:\/\/\S+)/))[1];
    await waitFor200(`${admin}/ready`);
    const readyMs = Date.now() - t0;
    // CPU to start and take the config: robust on a shared machine, where wall time is not.
    const readyCpuS = totalCpuSeconds([sidecar.pid]);
    await waitFor200(`http://127.0.0.1:${ports.inbound}/1k`).catch((err: Error) => {
      throw new Error(`${err.message}\n--- proxy output:\n${sidecar.output().slice(-3000)}\n--- control plane output:\n${cp.output().slice(-3000)}`);
    });
    // At rest: start-up, xDS and one request done, then a quiet moment.
    await sleep(2000);
    const rest = { rss_mb: round(rssMb(sidecar.pid), 1), ...rssParts(sidecar.pid), peak_rss_mb: round(peakRssMb(sidecar.pid), 1) };
    if (snapshotDir) await heapSnapshot(sidecar.pid, snapshotDir);
    const load = await openLoop(ports.inbound, sidecar.pid);
    const result = {
      bundle: !noBundle,
      node_flags: args.slice(0, args.indexOf(skiff)).join(" "),
      version_startup_ms: versionMs,
      proxy_ready_ms: readyMs,
      proxy_ready_cpu_s: round(readyCpuS, 2),
      rest,
      load: {
        rate: RATE,
        peak_rss_mb: round(peakRssMb(sidecar.pid), 1),
        rss_after_mb: round(rssMb(sidecar.pid), 1),
        ...rssParts(sidecar.pid),
        cpu_s_per_1k: round(load.cpuS / ((load.completed || 1) / 1000), 4),
        completed: load.completed,
        errors: load.errors,
        p99_ms: round(load.p99, 3),
      },
    };
    process.stdout.write(JSON.stringify(result) + "\n");
  } finally {
    for (const p of procs.reverse()) await stop(p);
    rmSync(dir, { recursive: true, force: true });
  }
}

/** SIGUSR2 (--heapsnapshot-signal) and wait until the proxy has written the snapshot. */
async function heapSnapshot(pid: number, dir: string): Promise<void> {
  mkdirSync(dir, { recursive: true });
  const before = new Set(readdirSync(dir));
  process.kill(pid, "SIGUSR2");
  const deadline = Date.now() + 60_000;
  let last = -1;
  while (Date.now() < deadline) {
    await sleep(500);
    const file = readdirSync(dir).find((f) => !before.has(f) && f.endsWith(".heapsnapshot"));
    if (!file) continue;
    const size = statSync(path.join(dir, file)).size;
    if (size > 0 && size === last) {
      process.stderr.write(`bench: heap snapshot ${path.join(dir, file)}\n`);
      return;
    }
    last = size;
  }
  throw new Error(`no heap snapshot from the proxy in ${dir} within 60 s`);
}

async function waitFor200(url: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    try {
      const r = await fetch(url);
      await r.arrayBuffer();
      if (r.ok) return;
    } catch {
      /* not yet */
    }
    await sleep(100);
  }
  throw new Error(`${url} did not answer 200 within 30 s`);
}

/** bench/lib/loadgen.ts in its own process; the proxy's CPU is read when the measured window opens and closes. */
function openLoop(port: number, pid: number): Promise<{ completed: number; errors: number; p99: number; cpuS: number }> {
  const cfg = JSON.stringify({ port, requestLine: "GET /1k HTTP/1.1", host: `127.0.0.1:${port}`, rate: RATE, connections: CONNECTIONS, warmupS: WARMUP, durationS: SECONDS });
  const gen = start("loadgen", LOAD_CPU, process.execPath, ["--import", "tsx", path.join(repo, "bench/lib/loadgen.ts"), cfg]);
  let cpu0 = 0;
  let buf = "";
  return new Promise((resolve, reject) => {
    gen.child.stdout!.on("data", (d: Buffer) => {
      buf += d.toString();
      for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        let msg: { event?: string; completed?: number; errors?: number; latency?: { p99: number; count: number }; message?: string };
        try {
          msg = JSON.parse(line);
        } catch {
          continue;
        }
        if (msg.event === "measuring") cpu0 = totalCpuSeconds([pid]);
        else if (msg.event === "done") resolve({ completed: msg.latency?.count ?? 0, errors: msg.errors ?? 0, p99: msg.latency?.p99 ?? NaN, cpuS: totalCpuSeconds([pid]) - cpu0 });
        else if (msg.event === "error") reject(new Error(`loadgen: ${msg.message}`));
      }
    });
    gen.child.on("exit", (code) => {
      if (code !== 0) reject(new Error(`loadgen exited ${code}: ${gen.output().slice(-1500)}`));
    });
  });
}

main().catch((err: Error) => {
  process.stderr.write(`${err.message}\n`);
  process.exitCode = 1;
});
