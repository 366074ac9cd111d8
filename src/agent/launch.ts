// How to start a proxy process from a bootstrap file: `skiff proxy --bootstrap FILE`,
// with the same Node and the same `skiff` entry point as the runtime that starts it (so
// a proxy never depends on PATH or on its working directory).
import { packagePath } from "../package-root/index.ts";

const SKIFF_BIN = packagePath("bin", "skiff.js");

/**
 * V8 flags for every proxy process; measured in docs/performance.md, "Proxy memory".
 * - `--max-semi-space-size=1`: the young generation's two semi-spaces are capped at 1 MB
 *   (V8's default grows them to 16 MB). A proxy's garbage is short-lived and small, so
 *   scavenges stay cheap, and the resident set is ~10-25 MB smaller.
 * - `--liftoff-only`: WebAssembly (undici's llhttp parser, xxhash) stays on V8's
 *   baseline compiler. Optimizing llhttp's large parser function with TurboFan happens
 *   on the first upstream request and peaks at ~35 MB (of resident memory that is
 *   then freed), which set the proxy's peak RSS; the baseline code parses a response
 *   head fast enough that no difference in CPU per request could be measured.
 * SKIFF_PROXY_NODE_FLAGS replaces them (e.g. "" for V8's defaults) to measure or debug.
 */
export const PROXY_NODE_FLAGS: readonly string[] = ["--max-semi-space-size=1", "--liftoff-only"];

export function proxyCommand(bootstrapFile: string): { command: string; args: string[] } {
  const override = process.env.SKIFF_PROXY_NODE_FLAGS;
  const flags = override === undefined ? PROXY_NODE_FLAGS : override.split(/\s+/).filter(Boolean);
  return { command: process.execPath, args: [...flags, SKIFF_BIN, "proxy", "--bootstrap", bootstrapFile] };
}
