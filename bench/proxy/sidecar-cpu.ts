// CPU per request of ONE Skiff sidecar with metrics and access logs on, beside HAProxy in
// the same run: the figure issue 8's first target is about, measured quickly enough to
// compare two versions of the proxy's hot path (a few minutes, not the full data-plane
// bench). Same method as bench/dataplane (open loop, /proc CPU of the proxy process,
// proxy pinned to CPU 1, everything else on CPU 0), one path pair only.
//
// npm run bench:proxy-cpu [-- --profile]
//   --profile  run the sidecar under node --cpu-prof and print where its time went
// Env: BENCH_RATE (1000), BENCH_CONNECTIONS (4), BENCH_SECONDS (8), BENCH_WARMUP (3),
//      BENCH_REPEATS (3), BENCH_SKIP_HAPROXY=1 (sidecar only), BENCH_BASELINE=DIR (also
//      measure the sidecar of another checkout, interleaved: before/after in one run),
//      BENCH_PROFILE_DIR=DIR (keep the --profile .cpuprofile files).
import { mkdtempSync, writeFileSync, mkdirSync, rmSync, readdirSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { ensureTools, toolPath } from "../lib/tools.ts";
import { start, stop, waitForOutput, waitForPort, freePort, sleep, type Started } from "../lib/procs.ts";
import { totalCpuSeconds, peakRssMb } from "../lib/proc.ts";
import { summarizeProfile, formatProfileSummary } from "../lib/cpuprofile.ts";
import { runLoadgen, type LoadgenOut, type LoadOptions } from "../lib/run-loadgen.ts";
import * as conf from "../dataplane/configs.ts";

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const profile = process.argv.includes("--profile");
const num = (name: string, dflt: number): number => (process.env[name] ? Number(process.env[name]) : dflt);
const RATE = num("BENCH_RATE", 1000);
const CONNECTIONS = num("BENCH_CONNECTIONS", 4);
const SECONDS = num("BENCH_SECONDS", 8);
const WARMUP = num("BENCH_WARMUP", 3);
const REPEATS = num("BENCH_REPEATS", 3);
const LOAD_CPU = "0";
const PROXY_CPU = "1";

/** Metrics (Istio's stats filter, prometheus is the default provider) and TEXT access logs to a file. */
const meshConfig = (logFile: string): string => `accessLogFile: ${logFile}\naccessLogEncoding: TEXT\ndefaultProviders:\n  metrics: [prometheus]\n`;

interface Target {
  name: string;
  port: number;
  pid: number;
}

async function main(): Promise<void> {
  ensureTools();
  const dir = mkdtempSync(path.join(tmpdir(), "skiff-bench-cpu-"));
  const procs: Started[] = [];
  const launch = (p: Started): Started => (procs.push(p), p);
  try {
    const ports = { upstream: await freePort(), haproxy: await freePort(), inbound: await freePort() };
    for (const d of ["nginx-upstream-body", "nginx-upstream-proxy"]) mkdirSync(path.join(dir, d));
    writeFileSync(path.join(dir, "upstream.conf"), conf.nginxUpstreamConf(dir, ports.upstream));
    launch(start("nginx upstream", LOAD_CPU, toolPath("nginx"), ["-c", path.join(dir, "upstream.conf"), "-p", dir]));
    const targets: Target[] = [];
    if (!process.env.BENCH_SKIP_HAPROXY) {
      writeFileSync(path.join(dir, "haproxy.cfg"), conf.haproxyConf(ports.haproxy, ports.upstream));
      const h = launch(start("haproxy", PROXY_CPU, toolPath("haproxy"), ["-db", "-f", path.join(dir, "haproxy.cfg")]));
      targets.push({ name: "haproxy", port: ports.haproxy, pid: h.pid });
    }
    // The sidecar under test, and optionally the same sidecar from another checkout
    // (BENCH_BASELINE=/path/to/checkout: e.g. `git archive <commit> | tar -x -C DIR` with
    // node_modules linked), measured interleaved in the same run.
    const variants: Array<{ name: string; root: string }> = [{ name: "skiff-sidecar", root: repo }];
    if (process.env.BENCH_BASELINE) variants.unshift({ name: "skiff-baseline", root: path.resolve(process.env.BENCH_BASELINE) });
    const checks: Array<{ admin: string; accessLog: string }> = [];
    // BENCH_PROFILE_DIR keeps the raw .cpuprofile files (for a closer look than the summary).
    const profDir = process.env.BENCH_PROFILE_DIR ?? path.join(dir, "profiles");
    const flags = profile ? ["--cpu-prof", `--cpu-prof-dir=${profDir}`] : [];
    for (const v of variants) {
      const skiff = path.join(v.root, "bin/skiff.js");
      const inbound = v.name === "skiff-sidecar" ? ports.inbound : await freePort();
      const accessLog = path.join(dir, `${v.name}.access.log`);
      writeFileSync(path.join(dir, `${v.name}.mesh.yaml`), conf.meshYaml(inbound));
      writeFileSync(path.join(dir, `${v.name}.mesh-config.yaml`), meshConfig(accessLog));
      const cp = launch(
        start(`${v.name} control-plane`, LOAD_CPU, process.execPath, [skiff, "control-plane", "-f", path.join(dir, `${v.name}.mesh.yaml`), "--mesh-config", path.join(dir, `${v.name}.mesh-config.yaml`), "--xds-port", "0", "--monitoring-port", "0"]),
      );
      const xdsPort = Number((await waitForOutput(cp, /xDS on [\d.]+:(\d+)/))[1]);
      const bootstrap = path.join(dir, `${v.name}.bootstrap.json`);
      writeFileSync(bootstrap, JSON.stringify(conf.sidecarBootstrap({ name: "upstream-0", app: "upstream", xdsPort, httpProxyPort: await freePort(), appPorts: { [inbound]: ports.upstream } })));
      const sidecar = launch(start(`${v.name} proxy`, PROXY_CPU, process.execPath, [...(v.name === "skiff-sidecar" ? flags : []), skiff, "proxy", "--bootstrap", bootstrap]));
      const admin = (await waitForOutput(sidecar, /skiff proxy ready: admin (http:\/\/\S+)/))[1];
      await waitReady(admin);
      await waitForPort(inbound);
      targets.push({ name: v.name, port: inbound, pid: sidecar.pid });
      checks.push({ admin, accessLog });
    }
    await waitForPort(ports.upstream);
    // One request first: each path must answer 200, and each sidecar write an access log
    // line and export Istio's metrics (the target's "metrics and access logs on").
    for (const t of targets) await load(t, { rate: 20, connections: 1, warmupS: 0, durationS: 0.5 });
    await sleep(300);
    const logBytes0 = new Map<string, number>();
    for (const { admin, accessLog } of checks) {
      logBytes0.set(accessLog, fileSize(accessLog));
      if (fileSize(accessLog) === 0) throw new Error(`bench: the sidecar wrote no access log to ${accessLog}: is the meshConfig applied?`);
      const stats = await (await fetch(`${admin}/stats/prometheus`)).text();
      if (!/istio_requests_total\{/.test(stats)) throw new Error("bench: the sidecar exports no istio_requests_total: metrics are not on");
    }

    if (process.env.BENCH_HOLD) {
      // Debugging: keep everything up for BENCH_HOLD seconds and say where it listens.
      process.stderr.write(`bench: holding ${process.env.BENCH_HOLD} s: ${targets.map((t) => `${t.name} 127.0.0.1:${t.port}`).join(", ")}, upstream 127.0.0.1:${ports.upstream}, ${checks.map((c) => c.admin).join(" ")}\n`);
      await sleep(Number(process.env.BENCH_HOLD) * 1000);
    }
    const runs = new Map<string, number[]>(targets.map((t) => [t.name, []]));
    for (let r = 0; r < REPEATS; r++) {
      for (const t of targets) {
        let cpu0 = 0;
        let cpu1 = 0;
        const out = await load(
          t,
          { rate: RATE, connections: CONNECTIONS, warmupS: WARMUP, durationS: SECONDS },
          () => (cpu0 = totalCpuSeconds([t.pid])),
          () => (cpu1 = totalCpuSeconds([t.pid])),
        );
        const perK = (cpu1 - cpu0) / (out.latency.count / 1000);
        if (process.env.BENCH_DEBUG && t.name.startsWith("skiff")) {
          // The sidecar's own view after the run: requests still active or pending, connections.
          const admin = checks[targets.filter((x) => x.name.startsWith("skiff")).indexOf(t)].admin;
          const text = await (await fetch(`${admin}/stats`)).text();
          process.stderr.write(text.split("\n").filter((l) => /inbound.*(rq_active|rq_pending_active|cx_active|cx_total|rq_total|rq_cancelled|rx_reset)|downstream_rq_active|downstream_cx_active/.test(l)).join("\n") + "\n");
        }
        runs.get(t.name)!.push(perK);
        process.stderr.write(`${t.name} ${r + 1}/${REPEATS}: ${perK.toFixed(4)} CPU-s / 1k requests (${out.latency.count} requests, p50 ${Number(out.latency.p50).toFixed(2)} ms, p99 ${Number(out.latency.p99).toFixed(2)} ms, errors ${out.errors + out.non2xx})\n`);
      }
    }
    const median = (v: number[]): number => [...v].sort((a, b) => a - b)[Math.floor((v.length - 1) / 2)];
    const lines = [`CPU seconds per 1,000 requests at ${RATE} rps over ${CONNECTIONS} connections, ${REPEATS} × ${SECONDS} s, median (runs):`];
    for (const t of targets) lines.push(`  ${t.name}: ${median(runs.get(t.name)!).toFixed(4)} (${runs.get(t.name)!.map((x) => x.toFixed(3)).join(", ")}), peak RSS ${peakRssMb(t.pid).toFixed(1)} MB`);
    for (const v of variants) if (runs.has("haproxy")) lines.push(`  ${v.name} / haproxy: ${(median(runs.get(v.name)!) / median(runs.get("haproxy")!)).toFixed(2)}×`);
    if (runs.has("skiff-baseline")) lines.push(`  skiff-sidecar / skiff-baseline: ${(median(runs.get("skiff-sidecar")!) / median(runs.get("skiff-baseline")!)).toFixed(2)}×`);
    for (const [file, bytes0] of logBytes0) lines.push(`  access log written during the runs (${path.basename(file)}): ${((fileSize(file) - bytes0) / 1e6).toFixed(1)} MB`);
    process.stdout.write(lines.join("\n") + "\n");
    if (profile) {
      for (const p of procs.filter((x) => x.name === "skiff-sidecar proxy")) await stop(p);
      await sleep(500);
      for (const f of readdirSync(profDir).filter((f) => f.endsWith(".cpuprofile"))) {
        const summary = summarizeProfile(path.join(profDir, f), 30);
        if (summary.byArea.reduce((s, a) => s + a.selfMs, 0) < 1000) continue;
        process.stdout.write(`\n${formatProfileSummary(summary)}\n`);
      }
    }
  } finally {
    for (const p of procs.reverse()) await stop(p);
    rmSync(dir, { recursive: true, force: true });
  }
}

function fileSize(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}

async function waitReady(admin: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    try {
      if ((await fetch(`${admin}/ready`)).ok) return;
    } catch {
      /* not yet */
    }
    await sleep(100);
  }
  throw new Error(`proxy at ${admin} not ready within 30 s`);
}

/** Load on one target, which must answer 2xx (or the CPU figure means nothing). */
async function load(t: Target, o: LoadOptions, onMeasuring?: () => void, onDone?: () => void): Promise<LoadgenOut> {
  const out = await runLoadgen({ name: t.name, port: t.port, requestLine: "GET /1k HTTP/1.1", host: `127.0.0.1:${t.port}` }, o, LOAD_CPU, onMeasuring, onDone);
  if (out.non2xx > 0 || out.completed === 0) throw new Error(`bench: ${t.name} answered non-2xx: ${JSON.stringify(out)}`);
  return out;
}

main().catch((err: Error) => {
  process.stderr.write(`${err.message}\n`);
  process.exitCode = 1;
});
