// Control-plane benchmark: a generated mesh (N services, M workloads) served by a real
// `skiff control-plane` (a child process, so its RSS and CPU are its own) to M simulated
// sidecars in this process. Measures the full push to every proxy, the convergence of a
// single VirtualService change, the control plane's RSS and CPU, and the bytes pushed.
//
// npm run bench:controlplane [-- --sizes 100/200,1000/2000] [-- --quick]
// Env: BENCH_CP_TIMEOUT_S (per phase, default 300); BENCH_NICE (root: the control plane's
// nice level; run this process with `nice` as well on a shared machine).
import { mkdtempSync, writeFileSync, rmSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { start, stop, waitForOutput, sleep, type Started } from "../lib/procs.ts";
import { cpuSeconds, peakRssMb, machineDescription } from "../lib/proc.ts";
import { percentile, round } from "../lib/stats.ts";
import * as mesh from "./mesh.ts";
import { protoRoot } from "../../src/envoy/index.ts";
import { SimulatedSidecar, makeClients } from "./clients.ts";

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const argv = process.argv.slice(2);
const quick = argv.includes("--quick");
const sizesArg = argv[argv.indexOf("--sizes") + 1];
const SIZES = (argv.includes("--sizes") ? sizesArg : quick ? "20/40" : "100/200,300/600,1000/2000").split(",").map((s) => s.split("/").map(Number) as [number, number]);
const PHASE_TIMEOUT_MS = Number(process.env.BENCH_CP_TIMEOUT_S ?? 300) * 1000;
const NICE = process.env.BENCH_NICE;

export interface SizeResult {
  services: number;
  proxies: number;
  routed_services: number;
  completed: boolean;
  note?: string;
  full_push_s?: number;
  full_push_p50_s?: number;
  first_response_p50_s?: number;
  first_response_max_s?: number;
  full_push_bytes_mb?: number;
  /** CPU this process (the simulated proxies) spent on the full push: to tell who was the bottleneck. */
  simulator_cpu_s_full_push?: number;
  simulator_cpu_s_change?: number;
  convergence_affected?: number;
  convergence_p50_ms?: number;
  convergence_p99_ms?: number;
  convergence_max_ms?: number;
  change_bytes_mb?: number;
  cp_rss_mb?: number;
  cp_cpu_s_full_push?: number;
  cp_cpu_s_change?: number;
  nacks?: number;
  stream_errors?: number;
}

async function runSize(services: number, proxies: number): Promise<SizeResult> {
  const spec: mesh.MeshSpec = { services, workloads: proxies, routedShare: 0.2 };
  const dir = mkdtempSync(path.join(tmpdir(), "skiff-cpbench-"));
  const result: SizeResult = { services, proxies, routed_services: mesh.routedServices(spec).length, completed: false };
  let cp: Started | undefined;
  let sidecars: SimulatedSidecar[] = [];
  try {
    writeFileSync(path.join(dir, "base.yaml"), mesh.baseYaml(spec));
    writeFileSync(path.join(dir, "routes.yaml"), mesh.otherVirtualServicesYaml(spec));
    const changed = path.join(dir, "vs-changed.yaml");
    writeFileSync(changed, mesh.virtualServiceYaml(0, 90));
    // BENCH_CP_PROFILE=DIR: run the control plane under node --cpu-prof (profiles in DIR).
    const prof = process.env.BENCH_CP_PROFILE ? ["--cpu-prof", `--cpu-prof-dir=${process.env.BENCH_CP_PROFILE}`] : [];
    // A heap cap so a mesh too big for the machine ends in the control plane's OOM
    // (reported) rather than in the machine's.
    const heap = `--max-old-space-size=${process.env.BENCH_CP_MAX_HEAP_MB ?? 6144}`;
    cp = start("skiff control-plane", undefined, process.execPath, [heap, ...prof, path.join(repo, "bin/skiff.js"), "control-plane", "-f", dir, "--xds-port", "0", "--monitoring-port", "0"]);
    const port = Number((await waitForOutput(cp, /xDS on [\d.]+:(\d+)/, 120_000))[1]);
    const cpu0 = cpuSeconds(cp.pid);

    // Full push: every proxy connects at once and must ACK CDS, LDS, EDS and RDS.
    const clients = makeClients(port, proxies, 50);
    sidecars = mesh.workloads(spec).map((w, i) => new SimulatedSidecar(clients[i], mesh.sidecarNode(w)));
    // Load Envoy's protos in this process first: that is the simulator's start-up, not the push.
    protoRoot();
    const t0 = performance.now();
    const simCpu0 = process.cpuUsage();
    for (const s of sidecars) s.start();
    const deadline = Date.now() + PHASE_TIMEOUT_MS;
    while (sidecars.some((s) => !s.stats.fullyAckedAt && !s.stats.error) && Date.now() < deadline) await sleep(100);
    const done = sidecars.filter((s) => s.stats.fullyAckedAt).map((s) => s.stats.fullyAckedAt - t0).sort((a, b) => a - b);
    result.stream_errors = sidecars.filter((s) => s.stats.error).length;
    if (done.length < proxies) {
      const got = sidecars.filter((s) => s.stats.firstResponseAt).length;
      result.note = `only ${done.length} of ${proxies} proxies had ACKed all four types after ${PHASE_TIMEOUT_MS / 1000} s (${got} had received a first response; stream errors: ${result.stream_errors}${sidecars.find((s) => s.stats.error)?.stats.error ? `, e.g. ${sidecars.find((s) => s.stats.error)!.stats.error}` : ""})`;
      result.cp_rss_mb = round(peakRssMb(cp.pid), 1);
      result.cp_cpu_s_full_push = round(cpuSeconds(cp.pid) - cpu0, 2);
      return result;
    }
    const simCpu = process.cpuUsage(simCpu0);
    result.simulator_cpu_s_full_push = round((simCpu.user + simCpu.system) / 1e6, 2);
    result.full_push_s = round(done[done.length - 1] / 1000, 3);
    result.full_push_p50_s = round(percentile(done, 50) / 1000, 3);
    const firsts = sidecars.map((s) => s.stats.firstResponseAt - t0).sort((a, b) => a - b);
    result.first_response_p50_s = round(percentile(firsts, 50) / 1000, 3);
    result.first_response_max_s = round(firsts[firsts.length - 1] / 1000, 3);
    await quiet(sidecars, 2000);
    result.full_push_bytes_mb = round(sidecars.reduce((n, s) => n + s.stats.bytes, 0) / 1e6, 2);
    const cpu1 = cpuSeconds(cp.pid);
    result.cp_cpu_s_full_push = round(cpu1 - cpu0, 2);

    // One VirtualService change (svc-0's weights), measured from the file write to each
    // affected proxy's last ACK of the push it caused.
    const bytesBefore = sidecars.reduce((n, s) => n + s.stats.bytes, 0);
    const simCpu1 = process.cpuUsage();
    const tWrite = performance.now();
    for (const s of sidecars) s.setMark(tWrite);
    writeFileSync(changed, mesh.virtualServiceYaml(0, 80));
    const firstDeadline = Date.now() + PHASE_TIMEOUT_MS;
    while (!sidecars.some((s) => s.stats.acksSinceMark.length) && Date.now() < firstDeadline) await sleep(50);
    await quiet(sidecars, 3000);
    const conv = sidecars.filter((s) => s.stats.acksSinceMark.length).map((s) => Math.max(...s.stats.acksSinceMark) - tWrite).sort((a, b) => a - b);
    result.convergence_affected = conv.length;
    result.convergence_p50_ms = round(percentile(conv, 50), 1);
    result.convergence_p99_ms = round(percentile(conv, 99), 1);
    result.convergence_max_ms = round(conv[conv.length - 1], 1);
    result.change_bytes_mb = round((sidecars.reduce((n, s) => n + s.stats.bytes, 0) - bytesBefore) / 1e6, 3);
    result.cp_cpu_s_change = round(cpuSeconds(cp.pid) - cpu1, 2);
    const simCpuChange = process.cpuUsage(simCpu1);
    result.simulator_cpu_s_change = round((simCpuChange.user + simCpuChange.system) / 1e6, 2);
    result.cp_rss_mb = round(peakRssMb(cp.pid), 1);
    result.nacks = sidecars.reduce((n, s) => n + s.stats.nacks, 0);
    result.completed = true;
    return result;
  } finally {
    for (const s of sidecars) s.stop();
    if (cp) await stop(cp);
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Waits until no proxy received anything for `quietMs` (bounded by the phase timeout). */
async function quiet(sidecars: SimulatedSidecar[], quietMs: number): Promise<void> {
  const deadline = Date.now() + PHASE_TIMEOUT_MS;
  let last = -1;
  let since = Date.now();
  while (Date.now() < deadline) {
    const n = sidecars.reduce((k, s) => k + s.stats.responses, 0);
    if (n !== last) {
      last = n;
      since = Date.now();
    } else if (Date.now() - since >= quietMs) return;
    await sleep(100);
  }
}

function table(results: SizeResult[], date: string, machine: string): string {
  const f = (n: number | undefined, d = 1): string => (n === undefined ? "–" : n.toFixed(d));
  const lines = [
    `Control plane, ${date} — ${machine}`,
    "",
    "| services / proxies | full push: all ACKed (s) | p50 proxy (s) | first response p50 (s) | bytes full push (MB) | VS change: affected | p50 (ms) | p99 (ms) | max (ms) | bytes change (MB) | CP peak RSS (MB) | CP CPU full push (s) | CP CPU change (s) |",
    "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
  ];
  for (const r of results) {
    if (!r.completed) {
      lines.push(`| ${r.services} / ${r.proxies} | did not finish: ${r.note} | | | | | | | | | ${f(r.cp_rss_mb)} | ${f(r.cp_cpu_s_full_push)} | |`);
      continue;
    }
    lines.push(
      `| ${r.services} / ${r.proxies} | ${f(r.full_push_s, 2)} | ${f(r.full_push_p50_s, 2)} | ${f(r.first_response_p50_s, 2)} | ${f(r.full_push_bytes_mb)} | ${r.convergence_affected} | ${f(r.convergence_p50_ms)} | ${f(r.convergence_p99_ms)} | ${f(r.convergence_max_ms)} | ${f(r.change_bytes_mb, 2)} | ${f(r.cp_rss_mb)} | ${f(r.cp_cpu_s_full_push)} | ${f(r.cp_cpu_s_change)} |`,
    );
  }
  return lines.join("\n");
}

async function main(): Promise<void> {
  const loadAtStart = readFileSync("/proc/loadavg", "utf8").split(" ")[0];
  const results: SizeResult[] = [];
  for (const [services, proxies] of SIZES) {
    process.stderr.write(`bench: control plane with ${services} services and ${proxies} proxies\n`);
    const r = await runSize(services, proxies);
    process.stderr.write(`bench: ${JSON.stringify(r)}\n`);
    results.push(r);
  }
  const date = new Date().toISOString();
  const machine = machineDescription();
  const load = readFileSync("/proc/loadavg", "utf8").split(" ")[0];
  const md = `${table(results, date, machine)}\n\nMachine load (1-minute average) at the start ${loadAtStart}, at the end ${load}. Simulated proxies' CPU (this process), full push / change: ${results.map((r) => `${r.services}/${r.proxies}: ${r.simulator_cpu_s_full_push ?? "–"} s / ${r.simulator_cpu_s_change ?? "–"} s`).join(", ")}.${NICE ? ` Control plane at nice ${NICE} (BENCH_NICE), on top of this process's own priority.` : ""}`;
  process.stdout.write(md + "\n");
  if (!quick && !argv.includes("--sizes")) {
    const dir = path.join(repo, "bench/results");
    writeFileSync(path.join(dir, "controlplane.json"), JSON.stringify({ machine, date, sizes: Object.fromEntries(results.map((r) => [`${r.services}/${r.proxies}`, r])) }, null, 2) + "\n");
    writeFileSync(path.join(dir, "controlplane.md"), md + "\n");
    process.stderr.write("bench: wrote bench/results/controlplane.json and controlplane.md\n");
  }
}

main().catch((err: Error) => {
  process.stderr.write(`${err.stack ?? err.message}\n`);
  process.exitCode = 1;
});
