// Applies (or removes) the capture rules of capture.ts inside a network namespace with
// iptables-restore, fed on stdin (no shell, no temp file).
import { execFile } from "node:child_process";
import { captureRemovalRules, captureRules, needsRouteLocalnet, type CaptureOptions } from "./capture.ts";

export class CaptureError extends Error {}

/** Replaces the nat table of namespace `netns` with the capture rules. */
export async function applyCapture(netns: string, options: CaptureOptions): Promise<void> {
  if (needsRouteLocalnet(options)) {
    // The namespace's own sysctl (/proc/sys/net is per network namespace), written by tee
    // inside it: no shell. `all` covers eth0 whatever the kernel ORs it with.
    await run(["netns", "exec", netns, "tee", "/proc/sys/net/ipv4/conf/all/route_localnet"], "1\n", `allow probes to reach 127.0.0.1 in network namespace ${netns}`);
  }
  await restore(netns, captureRules(options), "apply traffic capture");
}

/** Empties the nat table of `netns` (deleting the namespace also drops its rules). */
export async function removeCapture(netns: string): Promise<void> {
  await restore(netns, captureRemovalRules(), "remove traffic capture");
}

/** The nat table of `netns` as iptables-save prints it (for status and tests). */
export function savedNatTable(netns: string): Promise<string> {
  return run(["netns", "exec", netns, "iptables-save", "-t", "nat"], undefined, `read the nat table of ${netns}`);
}

async function restore(netns: string, rules: string, what: string): Promise<void> {
  // -w: wait for the xtables lock instead of failing when another restore holds it.
  await run(["netns", "exec", netns, "iptables-restore", "-w", "5"], rules, `${what} in network namespace ${netns}`);
}

function run(args: string[], input: string | undefined, what: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile("ip", args, { timeout: 15_000 }, (err, stdout, stderr) => {
      if (!err) return resolve(stdout);
      const code = (err as NodeJS.ErrnoException).code;
      const hint = code === "ENOENT" ? "`ip` was not found: install iproute2 (and iptables)" : (stderr.trim() || err.message);
      reject(new CaptureError(`cannot ${what}: ip ${args.join(" ")}: ${hint}`));
    });
    // A command that exits without reading stdin closes the pipe: its exit status tells.
    child.stdin?.on("error", () => {});
    child.stdin?.end(input);
  });
}
