// Data-plane benchmark: the same 1 KB upstream reached directly and through HAProxy,
// nginx, one Skiff sidecar, two Skiff sidecars (the mesh path, in plaintext and in mutual
// TLS with the mesh CA's SPIFFE certificates) and a TLS HAProxy pair, measured in one run
// on one machine. See docs/performance.md for the method.
//
// npm run bench:dataplane [-- --quick] [-- --profile] [-- --telemetry off]
//   --quick          short runs (2 s warm-up, 5 s measured, 3 s saturation) to check the setup
//   --profile        run the Skiff proxies under `node --cpu-prof` and summarize where time goes
//                    (profiling slows them: those numbers are not written to bench/results)
//   --paths a,b      measure only these paths (writes nothing)
//   --telemetry off  Skiff paths without metrics and access logs (default on: Istio's
//                    prometheus stats filter and a TEXT access log file, the issue's target
//                    condition); writes bench/results/dataplane-telemetry-off.{json,md}
// Env: BENCH_RATE (1000), BENCH_CONNECTIONS (4), BENCH_SECONDS (10), BENCH_WARMUP (3),
//      BENCH_REPEATS (3), BENCH_SAT_SECONDS (10).
import { mkdtempSync, writeFileSync, mkdirSync, rmSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir, cpus } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { ensureTools, toolPath } from "../lib/tools.ts";
import { start, stop, waitForOutput, waitForPort, freePort, run, sleep, NICE, type Started } from "../lib/procs.ts";
import { totalCpuSeconds, peakRssMb, rssMb, processTree, machineDescription } from "../lib/proc.ts";
import { round } from "../lib/stats.ts";
import { summarizeProfile, formatProfileSummary } from "../lib/cpuprofile.ts";
import { runLoadgen, type LoadgenOut } from "../lib/run-loadgen.ts";
import * as conf from "./configs.ts";
import { markdownTable, type PathResult, type DataplaneResults } from "./report.ts";
import { REQUESTS_METRIC, mtlsProblems, parsePrometheus, sumSeries, telemetryProblems, type ProxyStats } from "./verify.ts";
import { agentEnvironment, AGENT_ENV, PROXY_NODE_FLAGS } from "../../src/agent/index.ts";
import { RuntimeTokenIssuer } from "../../src/ca/index.ts";

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const argv = process.argv.slice(2);
const args = new Set(argv);
const quick = args.has("--quick");
const profile = args.has("--profile");
const telemetryArg = argv.find((a) => a.startsWith("--telemetry="))?.split("=")[1] ?? (argv.includes("--telemetry") ? argv[argv.indexOf("--telemetry") + 1] : "on");
if (telemetryArg !== "on" && telemetryArg !== "off") {
  process.stderr.write(`bench: --telemetry must be on or off, not ${JSON.stringify(telemetryArg)}\n`);
  process.exit(2);
}
const TELEMETRY = telemetryArg === "on";
const TELEMETRY_LABEL = TELEMETRY ? "metrics + access log" : "off";
// --paths a,b: measure only these (a developer's look at one path); writes nothing.
const pathsArg = argv.find((a) => a.startsWith("--paths="))?.split("=")[1] ?? (argv.includes("--paths") ? argv[argv.indexOf("--paths") + 1] : undefined);
const ONLY = pathsArg ? new Set(pathsArg.split(",")) : undefined;
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
// With a third core, the client side of each two-proxy path (client sidecar, TLS HAProxy
// A) gets it, so that each proxy of a pair has a core of its own, as in Istio's figures.
// On 2 cores both share CPU 1 (said under the table).
const CLIENT_PROXY_CPU = cpus().length >= 3 ? "2" : PROXY_CPU;

interface PathDef {
  name: string;
  port: number;
  requestLine: string;
  host: string;
  /** The proxy processes whose CPU and memory the path costs (none for direct). */
  pids: () => number[];
  /** Skiff paths: the sidecars, in request order, for the telemetry and mTLS checks. */
  sidecars?: Sidecar[];
}

interface Sidecar {
  proc: Started;
  name: string;
  admin: string;
  reporter: "source" | "destination";
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
      mtlsServerInbound: await freePort(),
      mtlsServerHttpProxy: await freePort(),
      mtlsClientHttpProxy: await freePort(),
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
    const tlsClient = launch(start("haproxy tls client", CLIENT_PROXY_CPU, haproxy, ["-db", "-f", path.join(dir, "haproxy-tls-client.cfg")]));

    // Skiff: control plane (with the mesh CA on its TLS port) + four process-mode
    // sidecars, as `skiff up` wires them: a plaintext pair without certificates, and an
    // mTLS pair whose agents get SPIFFE certificates from the control plane's CA.
    writeFileSync(path.join(dir, "mesh.yaml"), conf.meshYaml({ plainInbound: ports.serverInbound, mtlsInbound: ports.mtlsServerInbound }));
    const accessLog = path.join(dir, "access.log");
    writeFileSync(path.join(dir, "mesh-config.yaml"), conf.meshConfigYaml({ telemetry: TELEMETRY, accessLogFile: accessLog }));
    const meshConfigArgs = ["--mesh-config", path.join(dir, "mesh-config.yaml")];
    const skiff = path.join(repo, "bin/skiff.js");
    const caDir = path.join(dir, "ca");
    const cp = launch(start("skiff control-plane", LOAD_CPU, process.execPath, [skiff, "control-plane", "-f", path.join(dir, "mesh.yaml"), "--xds-port", "0", "--monitoring-port", "0", "--xds-tls-port", "0", "--ca-dir", caDir, ...meshConfigArgs]));
    const cpLine = await waitForOutput(cp, /xDS on [\d.]+:(\d+),.*xDS and CA over TLS on ([\d.]+:\d+)/);
    const xdsPort = Number(cpLine[1]);
    const caAddress = cpLine[2];
    // The runtime's part (src/runtime/mesh.ts): a service-account token signed with the
    // key the control plane's CA trusts (token-key.pem in its CA dir), the mesh root, and
    // the agent's SKIFF_* variables in the proxy's environment.
    const tokens = await RuntimeTokenIssuer.loadOrCreate(caDir);
    const rootsPem = readFileSync(path.join(caDir, "ca-cert.pem"), "utf8");
    const agentEnv = async (name: string, serviceAccount: string): Promise<Record<string, string>> => ({
      ...(await agentEnvironment({ dir: path.join(dir, "identity"), name, caAddress, rootsPem, token: await tokens.issue({ namespace: "default", serviceAccount }, { ttlSeconds: 3600 }) })),
      // In the temp dir, so the run's cleanup removes it with everything else.
      [AGENT_ENV.sdsSocket]: path.join(dir, `${name}.sds.sock`),
    });
    const profDir = path.join(dir, "profiles");
    // The node flags `skiff up` starts every proxy with (src/agent/launch.ts), then profiling.
    const nodeFlags = [...PROXY_NODE_FLAGS, ...(profile ? ["--cpu-prof", `--cpu-prof-dir=${profDir}`] : [])];
    const sidecar = async (o: { name: string; app: string; httpProxyPort: number; appPorts: Record<number, number>; reporter: Sidecar["reporter"]; mtls: boolean }): Promise<Sidecar> => {
      const file = path.join(dir, `${o.name}.bootstrap.json`);
      writeFileSync(file, JSON.stringify(conf.sidecarBootstrap({ name: o.name, app: o.app, xdsPort, httpProxyPort: o.httpProxyPort, appPorts: o.appPorts })));
      const env = o.mtls ? { ...process.env, ...(await agentEnv(o.name, o.app)) } : process.env;
      const p = launch(start(`skiff proxy ${o.name}`, o.reporter === "source" ? CLIENT_PROXY_CPU : PROXY_CPU, process.execPath, [...nodeFlags, skiff, "proxy", "--bootstrap", file], env));
      const admin = (await waitForOutput(p, /skiff proxy ready: admin (http:\/\/\S+)/))[1];
      await waitReady(admin).catch((err: Error) => {
        throw new Error(`bench: skiff proxy ${o.name}: ${err.message}; its output:\n${p.output().slice(-3000)}`);
      });
      return { proc: p, name: o.name, admin, reporter: o.reporter };
    };
    const { plain, mtls } = conf.MESH;
    const serverSidecar = await sidecar({ name: `${plain.server}-0`, app: plain.server, httpProxyPort: ports.serverHttpProxy, appPorts: { [ports.serverInbound]: ports.upstream }, reporter: "destination", mtls: false });
    const clientSidecar = await sidecar({ name: `${plain.client}-0`, app: plain.client, httpProxyPort: ports.clientHttpProxy, appPorts: {}, reporter: "source", mtls: false });
    const mtlsServerSidecar = await sidecar({ name: `${mtls.server}-0`, app: mtls.server, httpProxyPort: ports.mtlsServerHttpProxy, appPorts: { [ports.mtlsServerInbound]: ports.upstream }, reporter: "destination", mtls: true });
    const mtlsClientSidecar = await sidecar({ name: `${mtls.client}-0`, app: mtls.client, httpProxyPort: ports.mtlsClientHttpProxy, appPorts: {}, reporter: "source", mtls: true });
    // The mTLS server's inbound listener warms until its certificate arrives over SDS.
    for (const [what, port] of Object.entries(ports)) {
      await waitForPort(port, 30_000).catch((err: Error) => {
        const logs = [serverSidecar, clientSidecar, mtlsServerSidecar, mtlsClientSidecar].map((s) => `--- ${s.name}:\n${s.proc.output().slice(-1500)}`).join("\n");
        throw new Error(`bench: ${what} port: ${err.message}\n${logs}`);
      });
    }
    // Memory before any load: what start-up and the config cost, apart from traffic.
    await sleep(1000);
    const idle = `Resident memory at rest (after start-up and xDS, before load): skiff proxy ${rssMb(serverSidecar.proc.pid).toFixed(1)} MB (with certificates and the agent: ${rssMb(mtlsServerSidecar.proc.pid).toFixed(1)} MB), haproxy ${rssMb(haproxyPlain.pid).toFixed(1)} MB, nginx (master + worker) ${processTree(nginxProxy.pid).map(rssMb).reduce((a, b) => a + b, 0).toFixed(1)} MB.`;

    const local = (port: number, name: string, pids: () => number[]): PathDef => ({ name, port, requestLine: "GET /1k HTTP/1.1", host: `127.0.0.1:${port}`, pids });
    const meshPath = (name: string, service: string, client: Sidecar, server: Sidecar, port: number): PathDef => {
      const host = conf.meshHost(service);
      return { name, port, requestLine: `GET http://${host}/1k HTTP/1.1`, host, pids: () => [client.proc.pid, server.proc.pid], sidecars: [client, server] };
    };
    const paths: PathDef[] = [
      local(ports.upstream, "direct", () => []),
      local(ports.haproxy, "haproxy", () => [haproxyPlain.pid]),
      local(ports.nginx, "nginx", () => processTree(nginxProxy.pid)),
      { ...local(ports.serverInbound, "skiff-sidecar", () => [serverSidecar.proc.pid]), sidecars: [serverSidecar] },
      meshPath("skiff-mesh-plain", plain.server, clientSidecar, serverSidecar, ports.clientHttpProxy),
      meshPath("skiff-mesh-mtls", mtls.server, mtlsClientSidecar, mtlsServerSidecar, ports.mtlsClientHttpProxy),
      local(ports.tlsClient, "haproxy-tls-pair", () => [tlsClient.pid, tlsServer.pid]),
    ].filter((p) => (!profile || p.name.startsWith("skiff")) && (!ONLY || ONLY.has(p.name)));
    const unknown = [...(ONLY ?? [])].filter((n) => !paths.some((p) => p.name === n));
    if (unknown.length) throw new Error(`bench: --paths: no path named ${unknown.join(", ")}`);

    // Every path must answer before it is measured; a Skiff path must also show the
    // telemetry it claims and (mTLS) mutual TLS with SPIFFE identities, or the run stops.
    const checks: Record<string, string> = {};
    for (const p of paths) {
      checks[p.name] = await checkPath(p, accessLog);
      process.stderr.write(`bench: ${p.name}: ${checks[p.name]}\n`);
    }
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
    const notAvailable: Record<string, string> = {};
    const out: DataplaneResults = { machine: machineDescription(), date: new Date().toISOString(), paths: {} };
    for (const name of ["direct", "haproxy", "nginx", "skiff-sidecar", "skiff-mesh-plain", "skiff-mesh-mtls", "haproxy-tls-pair"]) {
      const r = results[name];
      if (r) out.paths[name] = { cpu_s_per_1k: r.cpu_s_per_1k, rss_mb: r.rss_mb, p50_ms: r.p50_ms, p90_ms: r.p90_ms, p99_ms: r.p99_ms, max_ms: r.max_ms, rps: r.rps };
    }
    const table = markdownTable(out, results, notAvailable, { rate: RATE, connections: CONNECTIONS, seconds: SECONDS, repeats: REPEATS, satSeconds: SAT_SECONDS, telemetry: TELEMETRY_LABEL, checks }) + `\n\n${idle}\nMachine load (1-minute average) at the start ${loadAtStart}, at the end ${readFileSync("/proc/loadavg", "utf8").split(" ")[0]} on ${cpus().length} cores${NICE ? `; bench processes at nice ${NICE}` : ""}. CPUs: load generator, wrk, upstream and control plane ${LOAD_CPU}; proxies ${PROXY_CPU}${CLIENT_PROXY_CPU === PROXY_CPU ? " (both proxies of a pair share it)" : `, the client side of a pair ${CLIENT_PROXY_CPU}`}.`;
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
      if (!ONLY) writeFileSync(path.join(repo, "bench/results/dataplane-profile.md"), md);
    } else if (!quick && !ONLY) {
      const resultsDir = path.join(repo, "bench/results");
      const base = TELEMETRY ? "dataplane" : "dataplane-telemetry-off";
      writeFileSync(path.join(resultsDir, `${base}.json`), JSON.stringify({ ...out, telemetry: TELEMETRY_LABEL, checks, ...(Object.keys(notAvailable).length ? { not_available: notAvailable } : {}) }, null, 2) + "\n");
      writeFileSync(path.join(resultsDir, `${base}.md`), table + "\n");
      process.stderr.write(`bench: wrote bench/results/${base}.json and ${base}.md\n`);
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

/**
 * The path must answer 200 (or the numbers mean nothing); a Skiff path must also count
 * the requests in Istio's metrics and write access log lines (telemetry on), and the mTLS
 * path must be mutual TLS with SPIFFE identities on both ends. Returns what was verified.
 */
async function checkPath(p: PathDef, accessLog: string): Promise<string> {
  const sidecars = p.sidecars ?? [];
  const isMtls = p.name === "skiff-mesh-mtls";
  // A listener can still be warming (the mTLS server's until its certificate arrives):
  // give the path a bounded number of tries before calling it broken.
  let last: LoadgenOut | undefined;
  for (let attempt = 0; attempt < 20; attempt++) {
    last = await runLoadgen(p, { rate: 20, connections: 1, warmupS: 0, durationS: 0.25 }, LOAD_CPU);
    if (last.non2xx === 0 && last.errors === 0 && last.completed > 0) break;
    await sleep(500);
  }
  if (!last || last.non2xx > 0 || last.errors > 0 || last.completed === 0) throw new Error(`bench: path ${p.name} does not answer 200: ${JSON.stringify(last)}`);
  if (sidecars.length === 0) return "answers 200";

  // Now the verified requests: counters before and after, so earlier traffic is not
  // counted (after a pause, so the lines of the tries above are flushed first).
  await sleep(300);
  const before = await Promise.all(sidecars.map(proxyStats));
  const logBefore = lineCount(accessLog);
  const out = await runLoadgen(p, { rate: 20, connections: 1, warmupS: 0, durationS: 0.5 }, LOAD_CPU);
  if (out.non2xx > 0 || out.errors > 0 || out.completed === 0) throw new Error(`bench: path ${p.name} does not answer 200: ${JSON.stringify(out)}`);
  const requests = out.completed;
  const verified = ["answers 200"];
  const problems: string[] = [];
  if (TELEMETRY) {
    // Access log lines are flushed within 100 ms; metrics are counted when the response ends.
    const expectedLines = requests * sidecars.length;
    for (let i = 0; i < 30 && lineCount(accessLog) - logBefore < expectedLines; i++) await sleep(100);
    const after = await Promise.all(sidecars.map(proxyStats));
    problems.push(...telemetryProblems({ path: p.name, requests, proxies: after, before, accessLogLinesAdded: lineCount(accessLog) - logBefore }));
    verified.push(`${requests} requests counted in istio_requests_total by each of its ${sidecars.length} proxies and ${lineCount(accessLog) - logBefore} access log lines`);
  } else {
    // Off must really be off, or the comparison with the run with telemetry means nothing.
    const counted = (await Promise.all(sidecars.map(proxyStats))).reduce((n, s) => n + sumSeries(parsePrometheus(s.prometheus), REQUESTS_METRIC), 0);
    if (counted > 0) problems.push(`${p.name}: telemetry is off, yet its proxies counted ${counted} requests in ${REQUESTS_METRIC}`);
    if (lineCount(accessLog) > 0) problems.push(`${p.name}: telemetry is off, yet ${accessLog} has lines`);
    verified.push("no istio_requests_total, no access log");
  }
  if (isMtls) {
    const [client, server] = sidecars;
    // Since the server sidecar started: the client's pool keeps its TLS connection from
    // the tries above, so the verified requests themselves need no new handshake.
    const serverHandshakes = await inboundHandshakes(server.admin);
    const trust = "spiffe://cluster.local/ns/default/sa";
    const dump: unknown = await (await fetch(`${client.admin}/config_dump`, { signal: AbortSignal.timeout(10_000) })).json();
    problems.push(
      ...mtlsProblems({
        serverHandshakes,
        serverPrometheus: TELEMETRY ? (await proxyStats(server)).prometheus : undefined,
        clientPrincipal: `${trust}/${conf.MESH.mtls.client}`,
        clientConfigDump: dump,
        cluster: `outbound|9080||${conf.meshHost(conf.MESH.mtls.server).split(":")[0]}`,
        serverPrincipal: `${trust}/${conf.MESH.mtls.server}`,
      }),
    );
    verified.push(`mutual TLS: ${serverHandshakes} TLS handshakes on the server sidecar's inbound listener${TELEMETRY ? ", requests reported connection_security_policy=mutual_tls from the client's SPIFFE ID" : ""}, the client verifies the server's SPIFFE ID, server STRICT`);
  }
  if (problems.length) throw new Error(`bench: path ${p.name} is not what it claims:\n  ${problems.join("\n  ")}`);
  return verified.join("; ");
}

async function proxyStats(s: Sidecar): Promise<ProxyStats> {
  const r = await fetch(`${s.admin}/stats/prometheus`, { signal: AbortSignal.timeout(10_000) });
  return { name: s.name, reporter: s.reporter, prometheus: await r.text() };
}

/** TLS handshakes the proxy's listeners have completed (Envoy's listener.<name>.ssl.handshake). */
async function inboundHandshakes(admin: string): Promise<number> {
  const r = await fetch(`${admin}/stats?format=json`, { signal: AbortSignal.timeout(10_000) });
  const stats = ((await r.json()) as { stats: Array<{ name: string; value: number }> }).stats;
  return stats.filter((x) => /^listener\..*\.ssl\.handshake$/.test(x.name)).reduce((n, x) => n + x.value, 0);
}

function lineCount(file: string): number {
  try {
    const text = readFileSync(file, "utf8");
    let n = 0;
    for (let i = text.indexOf("\n"); i >= 0; i = text.indexOf("\n", i + 1)) n++;
    return n;
  } catch {
    return 0;
  }
}

async function openLoop(p: PathDef): Promise<PathResult> {
  let cpu0 = 0;
  let cpu1 = 0;
  const out = await runLoadgen(
    p,
    { rate: RATE, connections: CONNECTIONS, warmupS: WARMUP, durationS: SECONDS },
    LOAD_CPU,
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
