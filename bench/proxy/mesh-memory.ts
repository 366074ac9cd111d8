// Memory of every process of a real `skiff up` mesh at rest: the sentiment demo
// (samples/sentiment/mesh.yaml: control plane in `skiff up`, the ingress gateway, one
// sidecar per replica, mesh mTLS with each sidecar's agent), after it is ready and a few
// requests went through the gateway. Per process: RSS, its private (anonymous) part, and
// its peak (VmHWM).
//
// npm run bench:mesh-memory [-- --settle SECONDS]
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { freePort, sleep } from "../lib/procs.ts";
import { processTree } from "../lib/proc.ts";

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const settleAt = process.argv.indexOf("--settle");
const SETTLE_S = settleAt >= 0 ? Number(process.argv[settleAt + 1]) : 10;

function status(pid: number): { rss_mb: number; anon_mb: number; peak_mb: number } {
  const text = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (k: string): number => Number(new RegExp(`^${k}:\\s+(\\d+)`, "m").exec(text)?.[1] ?? 0) / 1024;
  return { rss_mb: Math.round(kb("VmRSS") * 10) / 10, anon_mb: Math.round(kb("RssAnon") * 10) / 10, peak_mb: Math.round(kb("VmHWM") * 10) / 10 };
}

function describe(pid: number): string {
  const argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean);
  const bootstrap = argv.indexOf("--bootstrap");
  if (bootstrap >= 0) return `proxy ${path.basename(argv[bootstrap + 1], ".json")}`;
  if (argv.includes("up")) return "skiff up (control plane)";
  return argv.slice(-2).join(" ").slice(0, 60);
}

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(tmpdir(), "skiff-bench-mesh-mem-"));
  const port = await freePort();
  const up = spawn(process.execPath, [path.join(repo, "bin/skiff.js"), "up", "-f", path.join(repo, "samples/sentiment/mesh.yaml"), "--port", String(port), "--no-trace-store"], {
    env: { ...process.env, SKIFF_RUN_DIR: path.join(dir, "run") },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  up.stdout.on("data", (d: Buffer) => (out += d.toString()));
  up.stderr.on("data", (d: Buffer) => (out += d.toString()));
  try {
    const deadline = Date.now() + 180_000;
    while (!/skiff up: (ready|not ready)/.test(out) && up.exitCode === null && Date.now() < deadline) await sleep(200);
    if (!/skiff up: ready/.test(out)) throw new Error(`skiff up did not get ready:\n${out.slice(-3000)}`);
    // A few requests through the gateway (404 without a Gateway resource: still the full listener path).
    for (let i = 0; i < 20; i++) await fetch(`http://127.0.0.1:${port}/`).then((r) => r.arrayBuffer(), () => undefined);
    await sleep(SETTLE_S * 1000);
    const rows = processTree(up.pid!)
      .map((pid) => ({ pid, what: describe(pid), ...status(pid) }))
      .filter((r) => r.what.startsWith("proxy") || r.what.startsWith("skiff up"));
    for (const r of rows) process.stdout.write(`${r.what.padEnd(44)} rss ${String(r.rss_mb).padStart(6)} MB  private ${String(r.anon_mb).padStart(6)} MB  peak ${String(r.peak_mb).padStart(6)} MB\n`);
    const proxies = rows.filter((r) => r.what.startsWith("proxy"));
    const avg = (k: "rss_mb" | "anon_mb" | "peak_mb"): number => Math.round((proxies.reduce((s, r) => s + r[k], 0) / (proxies.length || 1)) * 10) / 10;
    process.stdout.write(JSON.stringify({ proxies: proxies.length, avg_rss_mb: avg("rss_mb"), avg_private_mb: avg("anon_mb"), avg_peak_mb: avg("peak_mb"), max_rss_mb: Math.max(...proxies.map((r) => r.rss_mb)) }) + "\n");
  } finally {
    up.kill("SIGTERM");
    await Promise.race([new Promise((r) => up.once("exit", r)), sleep(30_000)]);
    if (up.exitCode === null && up.signalCode === null) up.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: Error) => {
  process.stderr.write(`${err.message}\n`);
  process.exitCode = 1;
});
