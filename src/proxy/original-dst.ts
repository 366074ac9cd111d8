// Where a connection was going before iptables redirected it to the proxy
// (SO_ORIGINAL_DST), read through the small native addon in native/. Only netns mode
// redirects connections; process mode never needs the addon, so it is optional: without
// it the caller falls back to the socket's local address.
import { createRequire } from "node:module";
import { existsSync } from "node:fs";
import type { Socket } from "node:net";
import { packagePath } from "../package-root/index.ts";

export interface OriginalDst {
  address: string;
  port: number;
}

interface Addon {
  originalDst(fd: number): { address: string; port: number; family: number } | null;
}

/** Where `npm run build:native` (native/build.mjs) leaves the addon. */
export const ADDON_PATH = packagePath("native", "build", "Release", "skiff_original_dst.node");

/** Istio's capture ports: a connection arriving on one of them was redirected. */
const CAPTURE_PORTS = new Set([15001, 15006]);

let addon: Addon | null | undefined; // undefined: not tried yet; null: unavailable
let warned = false;

function loadAddon(): Addon | null {
  if (addon !== undefined) return addon;
  addon = null;
  if (process.platform !== "linux" || !existsSync(ADDON_PATH)) return addon;
  try {
    addon = createRequire(import.meta.url)(ADDON_PATH) as Addon;
  } catch (err) {
    warnOnce(`cannot load ${ADDON_PATH}: ${(err as Error).message}`);
  }
  return addon;
}

function warnOnce(why: string): void {
  if (warned) return;
  warned = true;
  process.stderr.write(
    `skiff proxy: warning: original destinations of captured connections are unknown (${why}); ` +
      "using the local address instead. Build the addon with `npm run build:native` for netns mode.\n",
  );
}

/** True when the addon is built and loads (netns tests use this to decide what to check). */
export function originalDstAvailable(): boolean {
  return loadAddon() !== null;
}

/**
 * The pre-redirect destination of `socket`, or undefined when it was not redirected or
 * the addon is missing. The warning about a missing addon is printed once, and only for
 * a connection that arrived on a capture port — process mode stays quiet.
 */
export function redirectedDestination(socket: Socket): OriginalDst | undefined {
  const a = loadAddon();
  if (!a) {
    if (process.platform === "linux" && CAPTURE_PORTS.has(socket.localPort ?? 0)) warnOnce("the native addon is not built");
    return undefined;
  }
  // libuv keeps the descriptor on the handle; node has no public accessor for it.
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (typeof fd !== "number" || fd < 0) return undefined;
  try {
    const r = a.originalDst(fd);
    return r ? { address: r.address, port: r.port } : undefined;
  } catch {
    return undefined; // a socket closing under us: the local address is as good as anything
  }
}
