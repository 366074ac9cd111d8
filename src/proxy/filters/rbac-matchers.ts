// Envoy's RBAC Permission and Principal (config.rbac.v3), compiled once per config into
// predicates over one RbacInput. The same predicates serve the HTTP filter (a request)
// and the network filter (a connection: no headers, no path).
import net from "node:net";
import { ConfigError, arr, num, obj, onlyFields, str, type Json } from "../json.ts";
import { compileHeaderMatcher, compileStringMatcher, type HeaderLookup } from "../string-match.ts";
import { compileMetadataMatcher, type DynamicMetadata } from "./rbac-metadata.ts";

/** What RBAC may look at. One object per request or connection. */
export interface RbacInput {
  /** Request headers incl. :method, :authority, :path, :scheme; always undefined on TCP. */
  header: HeaderLookup;
  /** The request path without query or fragment; undefined on TCP. */
  path: string | undefined;
  /** The socket's peer address. */
  directRemoteIp: string;
  /** The client address after x-forwarded-for processing (equals directRemoteIp on TCP). */
  remoteIp: string;
  destinationIp: string;
  destinationPort: number;
  /** The peer certificate's URI SAN (SPIFFE ID); "" when the connection is plaintext. */
  peerPrincipal: string;
  requestedServerName: string;
  metadata: DynamicMetadata;
}

export type RbacPredicate = (input: RbacInput) => boolean;

/** A CIDR set test (node's BlockList does the bit work for v4 and v6). */
export function compileCidr(value: unknown, path: string): (ip: string) => boolean {
  const o = obj(value);
  if (!o) throw new ConfigError(path, "expected a CidrRange {address_prefix, prefix_len}");
  onlyFields(o, path, ["address_prefix", "prefix_len"]);
  const address = str(o.address_prefix) ?? "";
  const family = net.isIP(address);
  if (family === 0) throw new ConfigError(`${path}.address_prefix`, `"${address}" is not an IP address`);
  const len = num(obj(o.prefix_len)?.value ?? o.prefix_len) ?? 0;
  const max = family === 4 ? 32 : 128;
  if (!Number.isInteger(len) || len < 0 || len > max) throw new ConfigError(`${path}.prefix_len`, `must be 0..${max}`);
  const type = family === 4 ? "ipv4" : "ipv6";
  const list = new net.BlockList();
  list.addSubnet(address, len, type);
  return (ip) => {
    const plain = ip.startsWith("::ffff:") && ip.includes(".") ? ip.slice(7) : ip;
    const f = net.isIP(plain);
    if (f === 0 || (f === 4) !== (family === 4)) return false;
    return list.check(plain, type);
  };
}

/** Exactly one key of a oneof must be set; returns it. */
function oneOf(o: Json, path: string, what: string): string {
  const keys = Object.keys(o).filter((k) => k !== "@type");
  if (keys.length !== 1) throw new ConfigError(path, `a ${what} needs exactly one rule, got ${keys.length === 0 ? "none" : keys.join(", ")}`);
  return keys[0];
}

// A StringMatcher, with a fast path for Istio's principal regexes of the shape
// `.*<literal>.*` (namespaces: `.*/ns/<ns>/.*`): for a value without a newline that is
// exactly "contains the literal", and a substring search costs far less than an RE2 run.
export function compileRbacStringMatcher(value: unknown, path: string): (v: string) => boolean {
  const regex = obj(obj(value)?.safe_regex)?.regex;
  const o = obj(value);
  const literal = typeof regex === "string" && o && Object.keys(o).length === 1 ? /^\.\*((?:[^\\^$.*+?()[\]{}|]|\\[\\^$.*+?()[\]{}|/-])+)\.\*$/.exec(regex)?.[1] : undefined;
  const full = compileStringMatcher(value, path);
  if (literal === undefined) return full;
  const needle = literal.replace(/\\(.)/g, "$1");
  // RE2's `.` does not match a newline: such values take the real regex.
  return (v) => (v.includes("\n") ? full(v) : v.includes(needle));
}

function compileUrlPath(value: unknown, path: string): RbacPredicate {
  const o = obj(value);
  if (!o) throw new ConfigError(path, "expected a PathMatcher {path: StringMatcher}");
  onlyFields(o, path, ["path"]);
  if (o.path === undefined) throw new ConfigError(`${path}.path`, "is required");
  const test = compileStringMatcher(o.path, `${path}.path`);
  return (input) => input.path !== undefined && test(input.path);
}

function compileHeader(value: unknown, path: string): RbacPredicate {
  const test = compileHeaderMatcher(value, path);
  return (input) => test(input.header);
}

function compileSet<T>(value: unknown, path: string, field: "rules" | "ids", each: (v: unknown, p: string) => T): T[] {
  const o = obj(value);
  if (!o) throw new ConfigError(path, `expected {${field}: [...]}`);
  onlyFields(o, path, [field]);
  const list = arr(o[field]).map((v, i) => each(v, `${path}.${field}[${i}]`));
  if (list.length === 0) throw new ConfigError(`${path}.${field}`, "needs at least one entry");
  return list;
}

export function compilePermission(value: unknown, path: string): RbacPredicate {
  const o = obj(value);
  if (!o) throw new ConfigError(path, "expected a Permission object");
  const kind = oneOf(o, path, "Permission");
  const p = `${path}.${kind}`;
  switch (kind) {
    case "any":
      if (o.any !== true) throw new ConfigError(p, "must be true");
      return () => true;
    case "and_rules": {
      const rules = compileSet(o.and_rules, p, "rules", compilePermission);
      return (input) => rules.every((r) => r(input));
    }
    case "or_rules": {
      const rules = compileSet(o.or_rules, p, "rules", compilePermission);
      return (input) => rules.some((r) => r(input));
    }
    case "not_rule": {
      const rule = compilePermission(o.not_rule, p);
      return (input) => !rule(input);
    }
    case "header":
      return compileHeader(o.header, p);
    case "url_path":
      return compileUrlPath(o.url_path, p);
    case "destination_ip": {
      const test = compileCidr(o.destination_ip, p);
      return (input) => test(input.destinationIp);
    }
    case "destination_port": {
      const port = num(o.destination_port);
      if (port === undefined || !Number.isInteger(port) || port < 0 || port > 65535) throw new ConfigError(p, "must be a port number 0..65535");
      return (input) => input.destinationPort === port;
    }
    case "destination_port_range": {
      const r = obj(o.destination_port_range) ?? {};
      onlyFields(r, p, ["start", "end"]);
      const start = num(r.start) ?? 0;
      const end = num(r.end) ?? 0;
      // Envoy's Int32Range: start inclusive, end exclusive.
      return (input) => input.destinationPort >= start && input.destinationPort < end;
    }
    case "metadata": {
      const test = compileMetadataMatcher(o.metadata, p);
      return (input) => test(input.metadata);
    }
    case "requested_server_name": {
      const test = compileStringMatcher(o.requested_server_name, p);
      return (input) => test(input.requestedServerName);
    }
    default:
      throw new ConfigError(p, `RBAC permission "${kind}" is not implemented by the skiff proxy`);
  }
}

export function compilePrincipal(value: unknown, path: string): RbacPredicate {
  const o = obj(value);
  if (!o) throw new ConfigError(path, "expected a Principal object");
  const kind = oneOf(o, path, "Principal");
  const p = `${path}.${kind}`;
  switch (kind) {
    case "any":
      if (o.any !== true) throw new ConfigError(p, "must be true");
      return () => true;
    case "and_ids": {
      const ids = compileSet(o.and_ids, p, "ids", compilePrincipal);
      return (input) => ids.every((r) => r(input));
    }
    case "or_ids": {
      const ids = compileSet(o.or_ids, p, "ids", compilePrincipal);
      return (input) => ids.some((r) => r(input));
    }
    case "not_id": {
      const id = compilePrincipal(o.not_id, p);
      return (input) => !id(input);
    }
    case "authenticated": {
      const a = obj(o.authenticated) ?? {};
      onlyFields(a, p, ["principal_name"]);
      // Without principal_name any mutual-TLS peer matches (Envoy: "any authenticated connection").
      if (a.principal_name === undefined) return (input) => input.peerPrincipal !== "";
      const test = compileRbacStringMatcher(a.principal_name, `${p}.principal_name`);
      return (input) => input.peerPrincipal !== "" && test(input.peerPrincipal);
    }
    case "source_ip": // deprecated alias of direct_remote_ip in Envoy
    case "direct_remote_ip": {
      const test = compileCidr(o[kind], p);
      return (input) => test(input.directRemoteIp);
    }
    case "remote_ip": {
      const test = compileCidr(o.remote_ip, p);
      return (input) => test(input.remoteIp);
    }
    case "header":
      return compileHeader(o.header, p);
    case "url_path":
      return compileUrlPath(o.url_path, p);
    case "metadata": {
      const test = compileMetadataMatcher(o.metadata, p);
      return (input) => test(input.metadata);
    }
    default:
      throw new ConfigError(p, `RBAC principal "${kind}" is not implemented by the skiff proxy`);
  }
}
