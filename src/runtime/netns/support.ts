// Can this machine run netns mode? Root on Linux with `ip netns`, iptables and
// setpriv. `skiff up --netns` and the tests ask first and say exactly what is missing.
import { run } from "./exec.ts";

export type NetnsSupport = { ok: true } | { ok: false; reason: string };

export async function netnsSupport(): Promise<NetnsSupport> {
  if (process.platform !== "linux") return { ok: false, reason: "netns mode needs Linux (network namespaces and iptables)" };
  if (typeof process.getuid === "function" && process.getuid() !== 0) return { ok: false, reason: "netns mode needs root (it creates network namespaces, a bridge and iptables rules)" };
  const missing: string[] = [];
  for (const [file, args] of [["ip", ["netns", "list"]], ["iptables", ["-w", "5", "-S", "FORWARD"]], ["iptables-restore", ["--version"]], ["setpriv", ["--version"]]] as const) {
    try {
      await run(file, args);
    } catch (err) {
      missing.push((err as Error).message);
    }
  }
  return missing.length ? { ok: false, reason: `netns mode is unavailable: ${missing.join("; ")}` } : { ok: true };
}
