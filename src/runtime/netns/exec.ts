// Runs `ip` and `iptables` for the netns plumbing: execFile (no shell, arguments are
// never parsed), a timeout so a wedged command cannot hang `skiff up`, and errors that
// say which command failed and what it printed.
import { execFile } from "node:child_process";

export class NetnsCommandError extends Error {
  constructor(
    message: string,
    readonly command: string,
    readonly stderr: string,
  ) {
    super(message);
  }
}

const INSTALL_HINT: Record<string, string> = {
  ip: "install iproute2 (Debian: apt-get install iproute2)",
  iptables: "install iptables (Debian: apt-get install iptables)",
  "iptables-save": "install iptables (Debian: apt-get install iptables)",
  "iptables-restore": "install iptables (Debian: apt-get install iptables)",
  setpriv: "install util-linux (Debian: apt-get install util-linux)",
  useradd: "install passwd (Debian: apt-get install passwd)",
};

export type Runner = (file: string, args: readonly string[], input?: string) => Promise<string>;

/** The real runner: resolves with stdout, rejects with the command and its stderr. */
export function run(file: string, args: readonly string[], input?: string): Promise<string> {
  const command = [file, ...args].join(" ");
  return new Promise((resolve, reject) => {
    const child = execFile(file, [...args], { timeout: 20_000 }, (err, stdout, stderr) => {
      if (!err) return resolve(stdout);
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "ENOENT") {
        return reject(new NetnsCommandError(`\`${file}\` was not found: ${INSTALL_HINT[file] ?? "install it"}`, command, ""));
      }
      const text = stderr.trim() || err.message;
      reject(new NetnsCommandError(`\`${command}\` failed: ${text}`, command, stderr));
    });
    // A command that exits without reading stdin closes the pipe: its exit status tells.
    child.stdin?.on("error", () => {});
    child.stdin?.end(input);
  });
}

/** Like run, but a failure is ignored (teardown goes on removing the rest). */
export async function runQuiet(file: string, args: readonly string[]): Promise<boolean> {
  try {
    await run(file, args);
    return true;
  } catch {
    return false;
  }
}
