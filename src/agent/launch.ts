// How to start a proxy process from a bootstrap file: `skiff proxy --bootstrap FILE`,
// with the same Node and the same `skiff` entry point as the runtime that starts it (so
// a proxy never depends on PATH or on its working directory).
import { packagePath } from "../package-root/index.ts";

const SKIFF_BIN = packagePath("bin", "skiff.js");

export function proxyCommand(bootstrapFile: string): { command: string; args: string[] } {
  return { command: process.execPath, args: [SKIFF_BIN, "proxy", "--bootstrap", bootstrapFile] };
}
