// Child processes for the benchmarks: started pinned to a CPU set (taskset), their output
// kept for error messages, waited for by a line they print or a port that answers, and
// stopped (SIGTERM, then SIGKILL) with bounded waits.
import { spawn, type ChildProcess } from "node:child_process";
import net from "node:net";

export interface Started {
  child: ChildProcess;
  pid: number;
  name: string;
  output: () => string;
}

/**
 * BENCH_NICE=-5 (root only) runs every bench process at that nice level: on a machine
 * shared with other work it keeps the measured processes from being starved. Recorded
 * in the results; 0 (default) leaves priorities alone.
 */
export const NICE = Number(process.env.BENCH_NICE ?? 0);

function withPriority([cmd, args]: [string, string[]]): [string, string[]] {
  return NICE ? ["nice", ["-n", String(NICE), cmd, ...args]] : [cmd, args];
}

export function start(name: string, cpus: string | undefined, command: string, args: string[], env: NodeJS.ProcessEnv = process.env): Started {
  const [cmd, argv] = withPriority(cpus ? ["taskset", ["-c", cpus, command, ...args]] : [command, args]);
  const child = spawn(cmd, argv, { env, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  const keep = (d: Buffer): void => {
    out += d.toString();
    if (out.length > 200_000) out = out.slice(-100_000);
  };
  child.stdout!.on("data", keep);
  child.stderr!.on("data", keep);
  if (child.pid === undefined) throw new Error(`${name}: could not start ${command}`);
  return { child, pid: child.pid, name, output: () => out };
}

/** Resolves with the first match of `re` in the process's output. */
export function waitForOutput(p: Started, re: RegExp, timeoutMs = 30_000): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    const check = (): boolean => {
      const m = re.exec(p.output());
      if (m) {
        cleanup();
        resolve(m);
      }
      return Boolean(m);
    };
    const onExit = (code: number | null): void => {
      cleanup();
      reject(new Error(`${p.name} exited (code ${code}) before printing ${re}:\n${p.output().slice(-2000)}`));
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`${p.name} did not print ${re} within ${timeoutMs} ms:\n${p.output().slice(-2000)}`));
    }, timeoutMs);
    const onData = (): void => void check();
    const cleanup = (): void => {
      clearTimeout(timer);
      p.child.stdout!.off("data", onData);
      p.child.stderr!.off("data", onData);
      p.child.off("exit", onExit);
    };
    p.child.stdout!.on("data", onData);
    p.child.stderr!.on("data", onData);
    p.child.on("exit", onExit);
    check();
  });
}

export async function waitForPort(port: number, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect({ port, host: "127.0.0.1" });
      s.once("connect", () => {
        s.destroy();
        resolve(true);
      });
      s.once("error", () => resolve(false));
    });
    if (ok) return;
    await sleep(50);
  }
  throw new Error(`nothing listens on 127.0.0.1:${port} after ${timeoutMs} ms`);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export async function stop(p: Started, timeoutMs = 8_000): Promise<void> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return;
  const exited = new Promise<void>((r) => p.child.once("exit", () => r()));
  p.child.kill("SIGTERM");
  const timer = setTimeout(() => p.child.kill("SIGKILL"), timeoutMs);
  await exited;
  clearTimeout(timer);
}

/** A free loopback port (bind to 0, read it, close): for configs of tools that need a number. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

/** Runs a command to completion and returns its stdout (stderr in the error). */
export function run(command: string, args: string[], timeoutMs = 120_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const [cmd, argv] = withPriority([command, args]);
    const child = spawn(cmd, argv, { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on("exit", (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`${command} ${args.join(" ")} exited ${code}: ${err.slice(-1500)}`));
    });
  });
}
