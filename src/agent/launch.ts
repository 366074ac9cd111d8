// How to start a proxy process from a bootstrap file: `skiff proxy --bootstrap FILE`
// (the proxy room's command) when the CLI has it, else the agent's own launcher.
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

const SKIFF_BIN = fileURLToPath(new URL("../../bin/skiff.js", import.meta.url));
const PROXY_COMMAND = fileURLToPath(new URL("../cli/commands/proxy.ts", import.meta.url));
const LAUNCHER = fileURLToPath(new URL("./proxy-main.ts", import.meta.url));
// Resolved here, not from the proxy's working directory (which may be outside the repo).
const TSX = import.meta.resolve("tsx");

export function proxyCommand(bootstrapFile: string): { command: string; args: string[] } {
  if (existsSync(PROXY_COMMAND)) return { command: process.execPath, args: [SKIFF_BIN, "proxy", "--bootstrap", bootstrapFile] };
  return { command: process.execPath, args: ["--import", TSX, LAUNCHER, "--bootstrap", bootstrapFile] };
}
