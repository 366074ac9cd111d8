// Summarizes a V8 .cpuprofile (`node --cpu-prof`): self time per function, the largest
// first, so "where does the proxy spend its CPU" is one table. Self time of a node =
// its sample count × the mean sampling interval; nodes of the same function (same
// name, file, line) are added up.
import { readFileSync } from "node:fs";

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
}

export interface FunctionSelfTime {
  name: string;
  location: string;
  selfMs: number;
  percent: number;
}

export interface ProfileSummary {
  totalMs: number;
  top: FunctionSelfTime[];
  /** Self time grouped by where the code lives (the proxy, node: internals, packages, GC/native). */
  byArea: Array<{ area: string; selfMs: number; percent: number }>;
}

function area(url: string, name: string): string {
  if (name === "(garbage collector)") return "GC";
  if (name === "(idle)" || name === "(program)") return name;
  if (!url) return "native / V8";
  if (url.startsWith("node:")) return "node: internals";
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (nm) return `package ${nm[1]}`;
  const src = /\/src\/([^/]+)\//.exec(url);
  if (src) return `src/${src[1]}`;
  return "other";
}

function shortUrl(url: string): string {
  const i = url.indexOf("/src/");
  if (i >= 0) return url.slice(i + 1);
  const nm = url.lastIndexOf("node_modules/");
  if (nm >= 0) return url.slice(nm + "node_modules/".length);
  return url;
}

export function summarizeProfile(file: string, topN = 20): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, "utf8")) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const counts = new Map<number, number>();
  for (const id of profile.samples) counts.set(id, (counts.get(id) ?? 0) + 1);
  const totalMs = (profile.endTime - profile.startTime) / 1000;
  const msPerSample = profile.samples.length ? totalMs / profile.samples.length : 0;
  const perFunction = new Map<string, FunctionSelfTime>();
  const perArea = new Map<string, number>();
  for (const [id, count] of counts) {
    const { functionName, url, lineNumber } = byId.get(id)!.callFrame;
    const name = functionName || "(anonymous)";
    const location = url ? `${shortUrl(url)}:${lineNumber + 1}` : "";
    const key = `${name}@${location}`;
    const ms = count * msPerSample;
    const entry = perFunction.get(key) ?? { name, location, selfMs: 0, percent: 0 };
    entry.selfMs += ms;
    perFunction.set(key, entry);
    const a = area(url, name);
    perArea.set(a, (perArea.get(a) ?? 0) + ms);
  }
  // Percentages of busy time: idle is not work the proxy did.
  const idle = [...perFunction.values()].filter((e) => e.name === "(idle)").reduce((s, e) => s + e.selfMs, 0);
  const busy = totalMs - idle || 1;
  const top = [...perFunction.values()]
    .filter((e) => e.name !== "(idle)")
    .sort((a, b) => b.selfMs - a.selfMs)
    .slice(0, topN)
    .map((e) => ({ ...e, percent: (100 * e.selfMs) / busy }));
  const byArea = [...perArea.entries()]
    .filter(([a]) => a !== "(idle)")
    .map(([a, ms]) => ({ area: a, selfMs: ms, percent: (100 * ms) / busy }))
    .sort((x, y) => y.selfMs - x.selfMs);
  return { totalMs, top, byArea };
}

export function formatProfileSummary(s: ProfileSummary): string {
  const lines = ["| self ms | % of busy | function | where |", "|---|---|---|---|"];
  for (const e of s.top) lines.push(`| ${e.selfMs.toFixed(0)} | ${e.percent.toFixed(1)} | ${e.name} | ${e.location} |`);
  lines.push("", "| area | self ms | % of busy |", "|---|---|---|");
  for (const a of s.byArea) lines.push(`| ${a.area} | ${a.selfMs.toFixed(0)} | ${a.percent.toFixed(1)} |`);
  return lines.join("\n");
}

// CLI: node --import tsx bench/lib/cpuprofile.ts FILE.cpuprofile [TOP]
if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split("/").pop()!)) {
  const file = process.argv[2];
  if (!file) {
    process.stderr.write("usage: node --import tsx bench/lib/cpuprofile.ts FILE.cpuprofile [TOP]\n");
    process.exitCode = 2;
  } else process.stdout.write(formatProfileSummary(summarizeProfile(file, Number(process.argv[3] ?? 20))) + "\n");
}
