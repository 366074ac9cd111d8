// Which outbound requests go through an HTTP proxy, decided from the conventional
// HTTP_PROXY / NO_PROXY environment variables. In `skiff up` process mode the sidecar's
// outbound side is such a proxy, so this is how an unmodified app reaches the mesh.
// Pure: takes the environment as an argument so it can be tested without touching
// process.env.

export interface ProxyEnv {
  HTTP_PROXY?: string;
  http_proxy?: string;
  NO_PROXY?: string;
  no_proxy?: string;
}

/**
 * The proxy to use for a plain-HTTP request to `target`, or undefined to go direct.
 * Upper-case names win over lower-case ones (curl takes lower-case first for
 * http_proxy; either works here because the runtime sets only one).
 */
export function proxyFor(target: URL, env: ProxyEnv): URL | undefined {
  const raw = env.HTTP_PROXY || env.http_proxy;
  if (!raw) return undefined;
  if (bypassesProxy(target, env.NO_PROXY ?? env.no_proxy ?? "")) return undefined;
  let proxy: URL;
  try {
    // "127.0.0.1:3128" without a scheme is common in the wild: read it as http.
    proxy = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(raw) ? raw : `http://${raw}`);
  } catch {
    throw new Error(`HTTP_PROXY="${raw}" is not a URL; set it like http://127.0.0.1:15001`);
  }
  if (proxy.protocol !== "http:") {
    throw new Error(`HTTP_PROXY="${raw}" uses ${proxy.protocol}; only an http:// proxy is supported`);
  }
  return proxy;
}

/**
 * NO_PROXY: comma- or space-separated entries; `*` matches everything; `host` matches
 * the host and its subdomains, and so do `.host` and `*.host` (as curl does);
 * `host:port` matches only that port; IP addresses match literally (no CIDR ranges). Matching is case-insensitive; IPv6 brackets are ignored.
 */
export function bypassesProxy(target: URL, noProxy: string): boolean {
  const host = stripBrackets(target.hostname.toLowerCase());
  const port = target.port || (target.protocol === "https:" ? "443" : "80");
  for (const raw of noProxy.split(/[\s,]+/)) {
    const entry = raw.trim().toLowerCase();
    if (!entry) continue;
    if (entry === "*") return true;
    const { name, port: entryPort } = splitHostPort(entry);
    if (entryPort !== undefined && entryPort !== port) continue;
    const domain = name.replace(/^\*?\./, "");
    if (host === domain || host.endsWith(`.${domain}`)) return true;
  }
  return false;
}

function splitHostPort(entry: string): { name: string; port?: string } {
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(entry);
  if (bracketed) return { name: bracketed[1], port: bracketed[2] };
  // A bare IPv6 address has several colons and no port.
  if ((entry.match(/:/g) ?? []).length > 1) return { name: entry };
  const hostPort = /^(.*):(\d+)$/.exec(entry);
  return hostPort ? { name: hostPort[1], port: hostPort[2] } : { name: entry };
}

function stripBrackets(host: string): string {
  return host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
}
