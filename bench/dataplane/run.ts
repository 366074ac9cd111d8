// Data-plane benchmark: the same 1 KB upstream reached directly and through HAProxy,
// nginx, one Skiff sidecar, two Skiff sidecars (the mesh path) and a TLS HAProxy pair,
// measured in one run on one machine. See docs/performance.md for the method.
//
// npm run bench:dataplane [-- --quick] [-- --profile]
//   --quick    short runs (2 s warm-up, 5 s measured, 3 s saturation) to check the setup
//   --profile  run the Skiff proxies under `node --cpu-prof` and summarize where time goes
//              (profiling slows them: those numbers are not written to bench/results)
// Env: BENCH_RATE (1000), BENCH_CONNECTIONS (4), BENCH_SECONDS (20), BENCH_WARMUP (5),
//      BENCH_SAT_SECONDS (10).
import { mkdtempSync, writeFileSync, mkdirSync, rmSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir, cpus } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { ensureTools, toolPath } from "../lib/tools.ts";
import { start, stop, waitForOutput, waitForPort, freePort, run, sleep, NICE, type Started } from "../lib/procs.ts";
import { totalCpuSeconds, peakRssMb, rssMb, processTree, machineDescription } from "../lib/proc.ts";
import { round } from "../lib/stats.ts";
import { summarizeProfile, formatProfileSummary } from "../lib/cpuprofile.ts";
import * as conf from "./configs.ts";
import { markdownTable, type PathResult, type DataplaneResults } from "./report.ts";

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const args = new Set(process.argv.slice(2));
const quick = args.has("--quick");
const profile = args.has("--profile");
const num = (name: string, dflt: number): number => (process.env[name] ? Number(process.env[name]) : dflt);
const RATE = num("BENCH_RATE", 1000);
const CONNECTIONS = num("BENCH_CONNECTIONS", 4);
const SECONDS = num("BENCH_SECONDS", quick ? 5 : 10);
const WARMUP = num("BENCH_WARMUP", quick ? 2 : 3);
const REPEATS = num("BENCH_REPEATS", quick ? 1 : 3);
const SAT_SECONDS = num("BENCH_SAT_SECONDS", quick ? 3 : 10);
// Two cores: the load generator, wrk, the upstream and the control plane share CPU 0;
// the proxies under test get CPU 1 to themselves.
const LOAD_CPU = "0";
const PROXY_CPU = "1";

interface PathDef {
  name: string;
  port: number;
  requestLine: string;
  host: string;
  /** The proxy processes whose CPU and memory the path costs (none for direct). */
  pids: () => number[];
}

async function main(): Promise<void> {
  ensureTools();
  const loadAtStart = readFileSync("/proc/loadavg", "utf8").split(" ")[0];
  const dir = mkdtempSync(path.join(tmpdir(), "skiff-bench-"));
  const procs: Started[] = [];
  const launch = (p: Started): Started => (procs.push(p), p);
  try {
    const ports = {
      upstream: await freePort(),
      haproxy: await freePort(),
      nginx: await freePort(),
      tlsClient: await freePort(),
      tlsServer: await freePort(),
      serverInbound: await freePort(),
      serverHttpProxy: await freePort(),
      clientHttpProxy: await freePort(),
    };
    for (const d of ["nginx-upstream-body", "nginx-upstream-proxy", "nginx-proxy-body", "nginx-proxy-temp"]) mkdirSync(path.join(dir, d));
    const nginx = toolPath("nginx");
    const haproxy = toolPath("haproxy");

    // Upstream and references.
    writeFileSync(path.join(dir, "upstream.conf"), conf.nginxUpstreamConf(dir, ports.upstream));
    launch(start("nginx upstream", LOAD_CPU, nginx, ["-c", path.join(dir, "upstream.conf"), "-p", dir]));
    writeFileSync(path.join(dir, "nginx-proxy.conf"), conf.nginxProxyConf(dir, ports.nginx, ports.upstream));
    const nginxProxy = launch(start("nginx proxy", PROXY_CPU, nginx, ["-c", path.join(dir, "nginx-proxy.conf"), "-p", dir]));
    writeFileSync(path.join(dir, "haproxy.cfg"), conf.haproxyConf(ports.haproxy, ports.upstream));
    const haproxyPlain = launch(start("haproxy", PROXY_CPU, haproxy, ["-db", "-f", path.join(dir, "haproxy.cfg")]));
    await makeCertificates(dir);
    writeFileSync(path.join(dir, "haproxy-tls-server.cfg"), conf.haproxyTlsServerConf(ports.tlsServer, ports.upstream, dir));
    const tlsServer = launch(start("haproxy tls server", PROXY_CPU, haproxy, ["-db", "-f", path.join(dir, "haproxy-tls-server.cfg")]));
    writeFileSync(path.join(dir, "haproxy-tls-client.cfg"), conf.haproxyTlsClientConf(ports.tlsClient, ports.tlsServer, dir));
    const tlsClient = launch(start("haproxy tls client", PROXY_CPU, haproxy, ["-db", "-f", path.join(dir, "haproxy-tls-client.cfg")]));

    // Skiff: control plane + two process-mode sidecars, as `skiff up` wires them.
    writeFileSync(path.join(dir, "mesh.yaml"), conf.meshYaml(ports.serverInbound));
    const skiff = path.join(repo, "bin/skiff.js");
    const cp = launch(start("skiff control-plane", LOAD_CPU, process.execPath, [skiff, "control-plane", "-f", path.join(dir, "mesh.yaml"), "--xds-port", "0", "--monitoring-port", "0"]));
    const xdsPort = Number((await waitForOutput(cp, /xDS on [\d.]+:(\d+)/))[1]);
    const profDir = path.join(dir, "profiles");
    const nodeFlags = profile ? ["--cpu-prof", `--cpu-prof-dir=${profDir}`] : [];
    const sidecar = async (name: string, app: string, httpProxyPort: number, appPorts: Record<number, number>): Promise<Started> => {
      const file = path.join(dir, `${name}.bootstrap.json`);
      writeFileSync(file, JSON.stringify(conf.sidecarBootstrap({ name, app, xdsPort, httpProxyPort, appPorts })));
      const p = launch(start(`skiff proxy ${name}`, PROXY_CPU, process.execPath, [...nodeFlags, skiff, "proxy", "--bootstrap", file]));
      const admin = (await waitForOutput(p, /skiff proxy ready: admin (http:\/\/\S+)/))[1];
      await waitReady(admin);
      return p;
    };
    const serverSidecar = await sidecar("upstream-0", "upstream", ports.serverHttpProxy, { [ports.serverInbound]: ports.upstream });
    const clientSidecar = await sidecar("client-0", "client", ports.clientHttpProxy, {});
    for (const port of Object.values(ports)) await waitForPort(port);
    // Memory before any load: what start-up and the config cost, apart from traffic.
    await sleep(1000);
    const idle = `Resident memory at rest (after start-up and xDS, before load): skiff proxy ${rssMb(serverSidecar.pid).toFixed(1)} MB, haproxy ${rssMb(haproxyPlain.pid).toFixed(1)} MB, nginx (master + worker) ${processTree(nginxProxy.pid).map(rssMb).reduce((a, b) => a + b, 0).toFixed(1)} MB.`;

    const local = (port: number, name: string, pids: () => number[]): PathDef => ({ name, port, requestLine: "GET /1k HTTP/1.1", host: `127.0.0.1:${port}`, pids });
    const meshHost = "upstream.default.svc.cluster.local:9080";
    const paths: PathDef[] = [
      local(ports.upstream, "direct", () => []),
      local(ports.haproxy, "haproxy", () => [haproxyPlain.pid]),
      local(ports.nginx, "nginx", () => processTree(nginxProxy.pid)),
      local(ports.serverInbound, "skiff-sidecar", () => [serverSidecar.pid]),
      { name: "skiff-mesh-plain", port: ports.clientHttpProxy, requestLine: `GET http://${meshHost}/1k HTTP/1.1`, host: meshHost, pids: () => [clientSidecar.pid, serverSidecar.pid] },
      local(ports.tlsClient, "haproxy-tls-pair", () => [tlsClient.pid, tlsServer.pid]),
    ].filter((p) => !profile || p.name.startsWith("skiff"));

    for (const p of paths) await checkPath(p);
    // Repetitions interleaved across paths, then the median of each figure: on a shared
    // machine a burst of someone else's work then spoils one repetition, not a path.
    const runs = new Map<string, PathResult[]>(paths.map((p) => [p.name, []]));
    for (let r = 0; r < REPEATS; r++) {
      for (const p of paths) {
        process.stderr.write(`bench: ${p.name} (${r + 1}/${REPEATS}): ${RATE} rps over ${CONNECTIONS} connections, ${WARMUP} s warm-up + ${SECONDS} s\n`);
        runs.get(p.name)!.push(await openLoop(p));
      }
    }
    const results: Record<string, PathResult> = {};
    for (const p of paths) results[p.name] = medianResult(runs.get(p.name)!);
    for (const p of paths) {
      process.stderr.write(`bench: ${p.name}: saturation (wrk, ${SAT_SECONDS} s)\n`);
      Object.assign(results[p.name], await saturation(p, dir));
    }
    const notAvailable = {
      "skiff-mesh-mtls":
        "not available: the bench's sidecars run without the workload agent (no SKIFF_CA_ADDRESS/token), so they announce SKIFF_TLS=false and the control plane sends them no mesh mTLS; wiring the CA into the bench is the next step",
    };
    const out: DataplaneResults = { machine: machineDescription(), date: new Date().toISOString(), paths: {} };
    for (const name of ["direct", "haproxy", "nginx", "skiff-sidecar", "skiff-mesh-plain", "skiff-mesh-mtls", "haproxy-tls-pair"]) {
      const r = results[name];
      if (r) out.paths[name] = { cpu_s_per_1k: r.cpu_s_per_1k, rss_mb: r.rss_mb, p50_ms: r.p50_ms, p90_ms: r.p90_ms, p99_ms: r.p99_ms, max_ms: r.max_ms, rps: r.rps };
    }
    const table = markdownTable(out, results, notAvailable, { rate: RATE, connections: CONNECTIONS, seconds: SECONDS, repeats: REPEATS, satSeconds: SAT_SECONDS }) + `\n\n${idle}\nMachine load (1-minute average) at the start ${loadAtStart}, at the end ${readFileSync("/proc/loadavg", "utf8").split(" ")[0]} on ${cpus().length} cores${NICE ? `; bench processes at nice ${NICE}` : ""}.`;
    process.stdout.write(table + "\n");
    if (profile) {
      for (const p of procs.filter((x) => x.name.startsWith("skiff proxy"))) await stop(p);
      await sleep(500);
      // Each proxy writes two profiles: its main thread and tsx's loader thread (idle
      // after start-up); the main threads are the ones that did the proxying.
      const names = new Map(procs.filter((x) => x.name.startsWith("skiff proxy")).map((x) => [x.pid, x.name]));
      let md = `Skiff proxy CPU profiles (node --cpu-prof), ${new Date().toISOString()}, paths ${paths.map((p) => p.name).join(", ")}; ${RATE} rps, ${SECONDS} s + saturation ${SAT_SECONDS} s\n`;
      for (const f of readdirSync(profDir).filter((f) => f.endsWith(".cpuprofile"))) {
        const summary = summarizeProfile(path.join(profDir, f), 25);
        const busy = summary.byArea.reduce((s, a) => s + a.selfMs, 0);
        if (busy < 2000) continue;
        const pid = Number(f.split(".")[3]);
        md += `\n### ${names.get(pid) ?? f} (busy ${(busy / 1000).toFixed(1)} s)\n\n${formatProfileSummary(summary)}\n`;
      }
      process.stdout.write(md);
      writeFileSync(path.join(repo, "bench/results/dataplane-profile.md"), md);
    } else if (!quick) {
      const resultsDir = path.join(repo, "bench/results");
      writeFileSync(path.join(resultsDir, "dataplane.json"), JSON.stringify({ ...out, not_available: notAvailable }, null, 2) + "\n");
      writeFileSync(path.join(resultsDir, "dataplane.md"), table + "\n");
      process.stderr.write(`bench: wrote bench/results/dataplane.json and dataplane.md\n`);
    }
  } finally {
    for (const p of procs.reverse()) await stop(p);
    rmSync(dir, { recursive: true, force: true });
  }
}

async function waitReady(admin: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    try {
      const r = await fetch(`${admin}/ready`);
      if (r.ok) return;
    } catch {
      /* not yet */
    }
    await sleep(100);
  }
  throw new Error(`proxy at ${admin} not ready within 30 s`);
}

/** One request through the path must return the 1 KB body, or the numbers mean nothing. */
async function checkPath(p: PathDef): Promise<void> {
  const out = await runLoadgen(p, { rate: 20, connections: 1, warmupS: 0, durationS: 0.5 });
  if (out.non2xx > 0 || out.errors > 0 || out.completed === 0) throw new Error(`bench: path ${p.name} does not answer 200: ${JSON.stringify(out)}`);
}

interface LoadgenOut {
  sent: number;
  completed: number;
  errors: number;
  non2xx: number;
  wallS: number;
  latency: { count: number; p50: number; p90: number; p99: number; max: number; mean: number };
}

function runLoadgen(p: PathDef, o: { rate: number; connections: number; warmupS: number; durationS: number }, onMeasuring?: () => void, onDone?: () => void): Promise<LoadgenOut> {
  const cfg = JSON.stringify({ port: p.port, requestLine: p.requestLine, host: p.host, ...o });
  const gen = start(`loadgen ${p.name}`, LOAD_CPU, process.execPath, ["--import", "tsx", path.join(repo, "bench/lib/loadgen.ts"), cfg]);
  return new Promise((resolve, reject) => {
    let buf = "";
    gen.child.stdout!.on("data", (d: Buffer) => {
      buf += d.toString();
      let nl: number;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        let msg: { event: string; message?: string } & Partial<LoadgenOut>;
        try {
          msg = JSON.parse(line);
        } catch {
          continue;
        }
        if (msg.event === "measuring") onMeasuring?.();
        else if (msg.event === "done") {
          onDone?.();
          resolve(msg as LoadgenOut);
        } else if (msg.event === "error") reject(new Error(`loadgen on ${p.name}: ${msg.message}`));
      }
    });
    gen.child.on("exit", (code) => {
      if (code !== 0) reject(new Error(`loadgen on ${p.name} exited ${code}: ${gen.output().slice(-1500)}`));
    });
  });
}

async function openLoop(p: PathDef): Promise<PathResult> {
  let cpu0 = 0;
  let cpu1 = 0;
  const out = await runLoadgen(
    p,
    { rate: RATE, connections: CONNECTIONS, warmupS: WARMUP, durationS: SECONDS },
    () => (cpu0 = totalCpuSeconds(p.pids())),
    () => (cpu1 = totalCpuSeconds(p.pids())),
  );
  const pids = p.pids();
  const requests = out.latency.count;
  return {
    cpu_s_per_1k: pids.length ? round((cpu1 - cpu0) / (requests / 1000), 4) : 0,
    // The largest single proxy's peak (per-sidecar memory is what the target is about).
    rss_mb: pids.length ? round(Math.max(...pids.map(peakRssMb)), 1) : 0,
    rss_total_mb: round(pids.map(peakRssMb).reduce((a, b) => a + b, 0), 1),
    p50_ms: round(out.latency.p50),
    p90_ms: round(out.latency.p90),
    p99_ms: round(out.latency.p99),
    max_ms: round(out.latency.max),
    rps: 0,
    sat_rps: 0,
    sat_cpu_cores: 0,
    requests,
    errors: out.errors,
    non2xx: out.non2xx,
    achieved_rps: round(requests / out.wallS, 1),
    cpu_cores_at_rate: pids.length ? round((cpu1 - cpu0) / out.wallS, 3) : 0,
  };
}

/** Per figure, the median over repetitions (peak memory: the largest; counts: summed). */
function medianResult(rs: PathResult[]): PathResult {
  const med = (f: (r: PathResult) => number): number => {
    const v = rs.map(f).sort((a, b) => a - b);
    return v[Math.floor((v.length - 1) / 2)];
  };
  return {
    cpu_s_per_1k: med((r) => r.cpu_s_per_1k),
    rss_mb: Math.max(...rs.map((r) => r.rss_mb)),
    rss_total_mb: Math.max(...rs.map((r) => r.rss_total_mb)),
    p50_ms: med((r) => r.p50_ms),
    p90_ms: med((r) => r.p90_ms),
    p99_ms: med((r) => r.p99_ms),
    max_ms: med((r) => r.max_ms),
    rps: 0,
    sat_rps: 0,
    sat_cpu_cores: 0,
    requests: rs.reduce((n, r) => n + r.requests, 0),
    errors: rs.reduce((n, r) => n + r.errors, 0),
    non2xx: rs.reduce((n, r) => n + r.non2xx, 0),
    achieved_rps: med((r) => r.achieved_rps),
    cpu_cores_at_rate: med((r) => r.cpu_cores_at_rate),
    cpu_s_per_1k_runs: rs.map((r) => r.cpu_s_per_1k),
    p99_ms_runs: rs.map((r) => r.p99_ms),
  };
}

/** wrk, closed loop, 16 connections: rps and the proxy CPU it took. */
async function saturation(p: PathDef, dir: string): Promise<Partial<PathResult>> {
  const script = path.join(dir, `wrk-${p.name}.lua`);
  const target = p.requestLine.split(" ")[1];
  writeFileSync(script, `wrk.method = "GET"\nwrk.path = "${target}"\nwrk.headers["Host"] = "${p.host}"\n`);
  const pids = p.pids();
  const cpu0 = totalCpuSeconds(pids);
  const t0 = process.hrtime.bigint();
  const text = await run("taskset", ["-c", LOAD_CPU, "wrk", "-t1", "-c16", `-d${SAT_SECONDS}s`, "-s", script, `http://127.0.0.1:${p.port}`], (SAT_SECONDS + 30) * 1000);
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = totalCpuSeconds(pids) - cpu0;
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(text)?.[1] ?? NaN);
  const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(text)?.[1] ?? 0);
  if (non2xx > 0) process.stderr.write(`bench: ${p.name}: ${non2xx} non-2xx answers under saturation\n`);
  const cores = cpu / wall;
  return {
    sat_rps: round(rps, 0),
    sat_cpu_cores: round(cores, 3),
    // Requests per second per proxy core; for direct (no proxy) the raw rate.
    rps: pids.length ? round(rps / cores, 0) : round(rps, 0),
  };
}

/** A bench CA and two leaf certificates (client and server) for the TLS HAProxy pair. */
async function makeCertificates(dir: string): Promise<void> {
  const f = (n: string): string => path.join(dir, n);
  await run("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", f("ca.key"), "-out", f("ca.crt"), "-days", "2", "-subj", "/CN=skiff-bench-ca"]);
  for (const who of ["client", "server"]) {
    await run("openssl", ["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", f(`${who}.key`), "-out", f(`${who}.csr`), "-subj", `/CN=${who}.bench`]);
    writeFileSync(f(`${who}.ext`), `subjectAltName=DNS:${who}.bench\n`);
    await run("openssl", ["x509", "-req", "-in", f(`${who}.csr`), "-CA", f("ca.crt"), "-CAkey", f("ca.key"), "-CAcreateserial", "-out", f(`${who}.crt`), "-days", "2", "-extfile", f(`${who}.ext`)]);
    const pem = (await run("cat", [f(`${who}.crt`), f(`${who}.key`)])).toString();
    writeFileSync(f(`${who}.pem`), pem);
  }
}

main().catch((err: Error) => {
  process.stderr.write(`${err.message}\n`);
  process.exitCode = 1;
});
