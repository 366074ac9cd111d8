// A small reference evaluator of Envoy RBAC Permission/Principal JSON, written from
// Envoy's documented semantics, so unit tests can state what a translated policy lets
// through ("a GET from namespace prod matches") instead of restating its JSON. Covers
// exactly the matcher kinds the translator emits; anything else throws.
import net from "node:net";

type Json = Record<string, unknown>;

export interface Request {
  /** Lower-case header names, incl. :method and :authority; absent on TCP. */
  headers?: Record<string, string>;
  path?: string;
  /** Peer SPIFFE id; "" for plaintext. */
  principal?: string;
  sourceIp?: string;
  remoteIp?: string;
  destinationIp?: string;
  destinationPort?: number;
  sni?: string;
  /** Dynamic metadata by filter name. */
  metadata?: Record<string, Record<string, unknown>>;
}

function reFull(regex: string): RegExp {
  const ignoreCase = regex.startsWith("(?i)");
  return new RegExp(`^(?:${ignoreCase ? regex.slice(4) : regex})$`, ignoreCase ? "i" : "");
}

export function stringMatches(m: Json, value: string | undefined): boolean {
  if (value === undefined) return false;
  const ic = m.ignore_case === true;
  const v = ic ? value.toLowerCase() : value;
  const norm = (s: unknown): string => (ic ? String(s).toLowerCase() : String(s));
  if ("exact" in m) return v === norm(m.exact);
  if ("prefix" in m) return v.startsWith(norm(m.prefix));
  if ("suffix" in m) return v.endsWith(norm(m.suffix));
  if ("contains" in m) return v.includes(norm(m.contains));
  if ("safe_regex" in m) return reFull(String((m.safe_regex as Json).regex)).test(value);
  throw new Error(`unknown string matcher ${JSON.stringify(m)}`);
}

function cidrMatches(range: Json, ip: string | undefined): boolean {
  if (!ip) return false;
  const list = new net.BlockList();
  const address = String(range.address_prefix);
  const family = net.isIPv6(address) ? "ipv6" : "ipv4";
  list.addSubnet(address, Number(range.prefix_len), family);
  return list.check(ip, net.isIPv6(ip) ? "ipv6" : "ipv4");
}

function headerMatches(h: Json, req: Request): boolean {
  const value = req.headers?.[String(h.name)];
  if (h.present_match === true) return value !== undefined;
  return stringMatches(h.string_match as Json, value);
}

function valueMatches(m: Json, value: unknown): boolean {
  if (m.present_match === true) return value !== undefined;
  if (m.list_match) return Array.isArray(value) && value.some((x) => valueMatches((m.list_match as Json).one_of as Json, x));
  if (m.string_match) return typeof value === "string" && stringMatches(m.string_match as Json, value);
  throw new Error(`unknown value matcher ${JSON.stringify(m)}`);
}

function metadataMatches(m: Json, req: Request): boolean {
  let value: unknown = req.metadata?.[String(m.filter)];
  for (const seg of m.path as Json[]) {
    value = value && typeof value === "object" && !Array.isArray(value) ? (value as Json)[String(seg.key)] : undefined;
  }
  return valueMatches(m.value as Json, value);
}

export function permissionMatches(p: Json, req: Request): boolean {
  if (p.any === true) return true;
  if (p.and_rules) return ((p.and_rules as Json).rules as Json[]).every((x) => permissionMatches(x, req));
  if (p.or_rules) return ((p.or_rules as Json).rules as Json[]).some((x) => permissionMatches(x, req));
  if (p.not_rule) return !permissionMatches(p.not_rule as Json, req);
  if (p.header) return headerMatches(p.header as Json, req);
  if (p.url_path) return stringMatches((p.url_path as Json).path as Json, req.path);
  if (p.destination_port !== undefined) return req.destinationPort === p.destination_port;
  if (p.destination_ip) return cidrMatches(p.destination_ip as Json, req.destinationIp);
  if (p.requested_server_name) return stringMatches(p.requested_server_name as Json, req.sni ?? "");
  if (p.metadata) return metadataMatches(p.metadata as Json, req);
  throw new Error(`unknown permission ${JSON.stringify(p)}`);
}

export function principalMatches(p: Json, req: Request): boolean {
  if (p.any === true) return true;
  if (p.and_ids) return ((p.and_ids as Json).ids as Json[]).every((x) => principalMatches(x, req));
  if (p.or_ids) return ((p.or_ids as Json).ids as Json[]).some((x) => principalMatches(x, req));
  if (p.not_id) return !principalMatches(p.not_id as Json, req);
  if (p.authenticated) {
    if (!req.principal) return false;
    return stringMatches((p.authenticated as Json).principal_name as Json, req.principal);
  }
  if (p.direct_remote_ip) return cidrMatches(p.direct_remote_ip as Json, req.sourceIp);
  if (p.remote_ip) return cidrMatches(p.remote_ip as Json, req.remoteIp ?? req.sourceIp);
  if (p.header) return headerMatches(p.header as Json, req);
  if (p.metadata) return metadataMatches(p.metadata as Json, req);
  throw new Error(`unknown principal ${JSON.stringify(p)}`);
}

/** Whether an RBAC Policy (permissions ANY + principals ANY) matches the request. */
export function policyMatches(policy: Json, req: Request): boolean {
  return (
    (policy.permissions as Json[]).some((p) => permissionMatches(p, req)) &&
    (policy.principals as Json[]).some((p) => principalMatches(p, req))
  );
}

/** Envoy's decision for an RBAC `rules` block: ALLOW lets in matches, DENY keeps them out, LOG lets all in. */
export function rbacAllows(rules: Json, req: Request): boolean {
  const matched = Object.values((rules.policies as Record<string, Json>) ?? {}).some((p) => policyMatches(p, req));
  if (rules.action === "DENY") return !matched;
  if (rules.action === "LOG") return true;
  return matched;
}
