// /proc readers for the benchmarks: CPU time and peak RSS of a set of processes, so a
// path's cost is what its proxy processes spent (not the load generator or upstream).
import { readFileSync } from "node:fs";

const CLOCK_TICKS_PER_SECOND = 100; // USER_HZ on Linux (getconf CLK_TCK); fixed ABI value

/** utime+stime of one process (all its threads), in seconds; 0 if it is gone. */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name (field 2) may contain spaces: count fields after its closing ')'.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const utime = Number(fields[11]);
    const stime = Number(fields[12]);
    return (utime + stime) / CLOCK_TICKS_PER_SECOND;
  } catch {
    return 0;
  }
}

export function totalCpuSeconds(pids: number[]): number {
  return pids.reduce((sum, pid) => sum + cpuSeconds(pid), 0);
}

/** Peak resident set (VmHWM) of one process, in MB; 0 if it is gone. */
export function peakRssMb(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const m = /^VmHWM:\s+(\d+)\s+kB/m.exec(status);
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

/** Direct children of a process (nginx's workers), from /proc/<pid>/task/<pid>/children. */
export function childPids(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** A process and all its descendants. */
export function processTree(pid: number): number[] {
  const out = [pid];
  for (let i = 0; i < out.length && i < 64; i++) out.push(...childPids(out[i]));
  return out;
}

export function machineDescription(): string {
  let model = "unknown CPU";
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(readFileSync("/proc/cpuinfo", "utf8"));
    if (m) model = m[1].trim();
  } catch {
    /* not Linux: keep the placeholder */
  }
  let memGb = 0;
  try {
    const m = /^MemTotal:\s+(\d+)/m.exec(readFileSync("/proc/meminfo", "utf8"));
    if (m) memGb = Math.round(Number(m[1]) / 1024 / 1024);
  } catch {
    /* idem */
  }
  return `${model}, ${os_cpus()} cores, ${memGb} GB, Linux, Node ${process.version}`;
}

function os_cpus(): number {
  try {
    return readFileSync("/proc/cpuinfo", "utf8").split("\n").filter((l) => l.startsWith("processor")).length;
  } catch {
    return 0;
  }
}

/** Current resident set (VmRSS) of one process, in MB; 0 if it is gone. */
export function rssMb(pid: number): number {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}
