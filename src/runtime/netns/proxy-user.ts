// The uid the sidecar runs under in netns mode. Capture exempts this uid's traffic
// (otherwise the proxy's own upstream connections would be redirected back into it),
// so it must be a uid the app never runs as: a system user `skiff-proxy`, created on
// first use, as Istio uses uid 1337 for its proxy.
import { readFile } from "node:fs/promises";
import { run as realRun, type Runner } from "./exec.ts";

export const PROXY_USER = "skiff-proxy";

export interface ProxyUser {
  name: string;
  uid: number;
  gid: number;
}

/** The user's uid/gid from an /etc/passwd text, or undefined. Pure. */
export function lookupUser(passwd: string, name: string): ProxyUser | undefined {
  for (const line of passwd.split("\n")) {
    const f = line.split(":");
    if (f[0] === name && f.length >= 4) return { name, uid: Number(f[2]), gid: Number(f[3]) };
  }
  return undefined;
}

/** Finds the proxy user, creating it (no home, no login shell) when absent. */
export async function ensureProxyUser(name = PROXY_USER, options: { runner?: Runner; passwdFile?: string } = {}): Promise<ProxyUser> {
  const passwdFile = options.passwdFile ?? "/etc/passwd";
  const found = lookupUser(await readFile(passwdFile, "utf8"), name);
  if (found) return found;
  let failure: unknown;
  try {
    await (options.runner ?? realRun)("useradd", ["--system", "--no-create-home", "--user-group", "--shell", "/usr/sbin/nologin", name]);
  } catch (err) {
    failure = err; // maybe another process created it just now: look again before failing
  }
  const created = lookupUser(await readFile(passwdFile, "utf8"), name);
  if (created) return created;
  throw failure instanceof Error ? failure : new Error(`netns: useradd reported success but ${name} is not in ${passwdFile}`);
}
