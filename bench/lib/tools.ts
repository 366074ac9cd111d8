// The Debian tools the data-plane benchmark needs. Decision: when a tool is missing and
// we run as root with apt-get available, install it (the bench is meant to run on a
// throwaway CI or lab machine); otherwise stop with the exact apt-get line to run.
import { execFileSync } from "node:child_process";

/** command → Debian package that provides it. */
const TOOLS: Record<string, string> = {
  haproxy: "haproxy",
  nginx: "nginx-light",
  wrk: "wrk",
  openssl: "openssl",
  taskset: "util-linux",
};

function has(command: string): boolean {
  try {
    execFileSync("sh", ["-c", `command -v ${command} || test -x /usr/sbin/${command}`], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

export function ensureTools(): void {
  const missing = Object.keys(TOOLS).filter((c) => !has(c));
  if (missing.length === 0) return;
  const packages = [...new Set(missing.map((c) => TOOLS[c]))];
  const line = `apt-get install -y ${packages.join(" ")}`;
  const isRoot = process.getuid?.() === 0;
  if (isRoot && has("apt-get")) {
    process.stderr.write(`bench: missing ${missing.join(", ")}; installing: apt-get update && ${line}\n`);
    execFileSync("sh", ["-c", `apt-get update -qq && DEBIAN_FRONTEND=noninteractive ${line} -qq`], { stdio: "inherit" });
    const still = missing.filter((c) => !has(c));
    if (still.length === 0) return;
    throw new Error(`bench: still missing after apt-get: ${still.join(", ")}`);
  }
  throw new Error(`bench: missing ${missing.join(", ")}. Install them with:\n  sudo apt-get update && sudo ${line}\n(or run npm run bench as root, which installs them)`);
}

/** Absolute path of a tool in /usr/sbin or PATH. */
export function toolPath(command: string): string {
  return execFileSync("sh", ["-c", `command -v ${command} || echo /usr/sbin/${command}`]).toString().trim();
}
