// The leaf matchers of Envoy RBAC that AuthorizationPolicy values turn into. Istio's
// value syntax: `*` alone matches any (present) value, `*x` a suffix, `x*` a prefix,
// anything else exactly. Pure builders of proto3 JSON (envoy.type.matcher.v3, config.rbac.v3).
import type { EnvoyJson } from "../types.ts";

/** Where the proxy's JWT filter leaves what it verified (Istio's authn filter name and keys). */
export const AUTHN_METADATA_FILTER = "istio_authn";

/** RE2 text matching `text` literally. */
export function escapeRegex(text: string): string {
  return text.replace(/[\\^$.*+?()[\]{}|]/g, "\\$&");
}

/**
 * A StringMatcher for an Istio value. `prefix` is prepended to the literal parts (the
 * `spiffe://` of principals); `ignoreCase` for hosts.
 */
export function stringMatcher(value: string, options: { prefix?: string; ignoreCase?: boolean } = {}): EnvoyJson {
  const prefix = options.prefix ?? "";
  const ic = options.ignoreCase ? { ignore_case: true } : {};
  if (value === "*") return prefix ? { prefix, ...ic } : { safe_regex: { regex: ".+" } };
  if (value.startsWith("*")) return { suffix: value.slice(1), ...ic };
  if (value.endsWith("*")) return { prefix: prefix + value.slice(0, -1), ...ic };
  return { exact: prefix + value, ...ic };
}

/** A header matcher: `*` means the header is present. */
export function headerMatcher(name: string, value: string, ignoreCase = false): EnvoyJson {
  if (value === "*") return { header: { name, present_match: true } };
  return { header: { name, string_match: stringMatcher(value, { ignoreCase }) } };
}

/** `10.0.0.0/8` or a bare address (a /32 or /128). Undefined when it is not an IP block. */
export function cidrRange(block: string): EnvoyJson | undefined {
  const [address, len] = block.trim().split("/", 2);
  const v6 = address.includes(":");
  const v4 = /^\d{1,3}(\.\d{1,3}){3}$/.test(address) && address.split(".").every((o) => Number(o) <= 255);
  if (!v4 && !(v6 && /^[0-9a-fA-F:.]+$/.test(address))) return undefined;
  const max = v6 ? 128 : 32;
  const prefixLen = len === undefined ? max : Number(len);
  if (!Number.isInteger(prefixLen) || prefixLen < 0 || prefixLen > max || (len !== undefined && !/^\d+$/.test(len))) return undefined;
  return { address_prefix: address, prefix_len: prefixLen };
}

/** The authenticated peer's SPIFFE id (its certificate's URI SAN). */
export function principalName(value: string): EnvoyJson {
  return { authenticated: { principal_name: stringMatcher(value, { prefix: "spiffe://" }) } };
}

/**
 * A source namespace: the peer's SPIFFE id has `/ns/<namespace>/` in it. `*` forms are
 * kept within one path segment.
 */
export function namespacePrincipal(value: string): EnvoyJson {
  let ns: string;
  if (value === "*") ns = "[^/]+";
  else if (value.startsWith("*")) ns = `[^/]*${escapeRegex(value.slice(1))}`;
  else if (value.endsWith("*")) ns = `${escapeRegex(value.slice(0, -1))}[^/]*`;
  else ns = escapeRegex(value);
  return { authenticated: { principal_name: { safe_regex: { regex: `.*/ns/${ns}/.*` } } } };
}

/** A dynamic-metadata matcher on the verified JWT (`request.auth.*` keys). */
export function authnMetadata(path: string[], value: string, list: boolean): EnvoyJson {
  return metadataMatcher(AUTHN_METADATA_FILTER, path, value, list);
}

export function metadataMatcher(filter: string, path: string[], value: string, list: boolean): EnvoyJson {
  const single: EnvoyJson = value === "*" ? { present_match: true } : { string_match: stringMatcher(value) };
  return {
    metadata: {
      filter,
      path: path.map((key) => ({ key })),
      // Lists (audiences, list claims) match when one element matches.
      value: list && value !== "*" ? { list_match: { one_of: single } } : single,
    },
  };
}

/**
 * `:authority` for a host: case-insensitive, with or without a `:port` suffix (clients
 * may or may not send the port).
 */
export function hostMatchers(host: string): EnvoyJson[] {
  if (host === "*") return [{ header: { name: ":authority", present_match: true } }];
  if (host.startsWith("*")) {
    const suffix = host.slice(1);
    return [
      { header: { name: ":authority", string_match: { suffix, ignore_case: true } } },
      { header: { name: ":authority", string_match: { safe_regex: { regex: `(?i).*${escapeRegex(suffix)}:[0-9]+` } } } },
    ];
  }
  if (host.endsWith("*")) return [{ header: { name: ":authority", string_match: { prefix: host.slice(0, -1), ignore_case: true } } }];
  return [
    { header: { name: ":authority", string_match: { exact: host, ignore_case: true } } },
    { header: { name: ":authority", string_match: { prefix: `${host}:`, ignore_case: true } } },
  ];
}

/** A request path (without query): exact, `/prefix*`, `*suffix`, or `*` for any. */
export function pathMatcher(path: string): EnvoyJson {
  if (path === "*") return { url_path: { path: { safe_regex: { regex: ".*" } } } };
  return { url_path: { path: stringMatcher(path) } };
}
