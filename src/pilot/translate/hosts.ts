// Host name helpers shared by every translator: turning the short names users write
// into the fully qualified hosts the registry knows, wildcard matching as Istio does
// it, and the domains a virtual host answers to. Pure string work.
import type { MeshService } from "../../registry/types.ts";

/**
 * Resolves a host written in a resource of `namespace` to a fully qualified host.
 * - `*` and `*.example.com` wildcards are kept as they are.
 * - `reviews` (no dot) means the Kubernetes service in the resource's namespace:
 *   `reviews.<namespace>.svc.<domain>` (as Istio resolves short names).
 * - `reviews.other` (one dot) is `reviews.other.svc.<domain>` when that service is
 *   known (`isKnown`); otherwise it is taken literally (it may be a real DNS name
 *   such as `example.com`). Istio itself only resolves dot-less names; this is a
 *   deliberate convenience the brief asks for.
 * - Anything else is already an FQDN.
 */
export function resolveHost(
  host: string,
  namespace: string,
  domain: string,
  isKnown?: (fqdn: string) => boolean,
): string {
  if (host.startsWith("*")) return host;
  const dots = host.split(".").length - 1;
  if (dots === 0) return `${host}.${namespace}.svc.${domain}`;
  if (dots === 1) {
    const candidate = `${host}.svc.${domain}`;
    if (isKnown?.(candidate)) return candidate;
  }
  return host;
}

/** True when `host` contains a wildcard (`*` or `*.suffix`). */
export function isWildcard(host: string): boolean {
  return host.startsWith("*");
}

/**
 * True when `pattern` covers `host`: equal hosts, `*` covers everything, and
 * `*.x.com` covers `a.x.com`, `a.b.x.com` and the narrower wildcard `*.a.x.com`
 * (but not `x.com` itself, as in Istio and DNS).
 */
export function hostCovers(pattern: string, host: string): boolean {
  if (pattern === host || pattern === "*") return true;
  if (!pattern.startsWith("*")) return false;
  const suffix = pattern.slice(1); // ".x.com"
  if (host.startsWith("*")) {
    // A wildcard host is covered only by an equal or broader wildcard.
    return host.slice(1).endsWith(suffix);
  }
  return host.endsWith(suffix) && host.length > suffix.length;
}

/** True when two hosts (either may be a wildcard) can name a common host. */
export function hostsIntersect(a: string, b: string): boolean {
  return hostCovers(a, b) || hostCovers(b, a);
}

/**
 * Among `patterns`, the one that most specifically covers `host`: an exact match
 * beats any wildcard, a longer wildcard beats a shorter one (as Istio's
 * MostSpecificHostMatch). Undefined when none covers it.
 */
export function mostSpecificMatch(host: string, patterns: Iterable<string>): string | undefined {
  let best: string | undefined;
  for (const p of patterns) {
    if (!hostCovers(p, host)) continue;
    if (p === host) return p;
    if (best === undefined || p.length > best.length || (p.length === best.length && p < best)) best = p;
  }
  return best;
}

/**
 * The domains a virtual host for `service` on `port` answers to, as seen from a proxy
 * in `proxyNamespace`: the FQDN; for Kubernetes services also `name.namespace.svc`,
 * `name.namespace`, and the bare name when the proxy is in the same namespace; the
 * service's virtual IPs. Each with and without `:port`. Sorted-unique, FQDN first.
 */
export function serviceDomains(
  service: MeshService,
  port: number,
  proxyNamespace: string,
  domain: string,
): string[] {
  const names = [service.hostname];
  const kubeSuffix = `.${service.namespace}.svc.${domain}`;
  if (service.hostname.endsWith(kubeSuffix)) {
    const short = service.hostname.slice(0, -kubeSuffix.length);
    names.push(`${short}.${service.namespace}.svc`, `${short}.${service.namespace}`);
    if (proxyNamespace === service.namespace) names.push(short);
  }
  for (const vip of service.addresses) {
    // CIDR ranges of ServiceEntries are not names a Host header can carry.
    if (!vip.includes("/")) names.push(vip.includes(":") ? `[${vip}]` : vip);
  }
  const out: string[] = [];
  for (const name of names) {
    for (const d of [name, `${name}:${port}`]) if (!out.includes(d)) out.push(d);
  }
  return out;
}

/** Splits Istio's `region/zone/subzone` locality string; missing parts are "". */
export function parseLocality(locality: string): { region: string; zone: string; sub_zone: string } {
  const [region = "", zone = "", subZone = ""] = locality.split("/");
  return { region, zone, sub_zone: subZone };
}
