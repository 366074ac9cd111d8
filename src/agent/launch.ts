// How to start a proxy process from a bootstrap file: `skiff proxy --bootstrap FILE`,
// with the same Node and the same `skiff` entry point as the runtime that starts it (so
// a proxy never depends on PATH or on its working directory).
import { fileURLToPath } from "node:url";

const SKIFF_BIN = fileURLToPath(new URL("../../bin/skiff.js", import.meta.url));

export function proxyCommand(bootstrapFile: string): { command: string; args: string[] } {
  return { command: process.execPath, args: [SKIFF_BIN, "proxy", "--bootstrap", bootstrapFile] };
}
