// Envoy's filter chain selection. Criteria are applied in Envoy's order — destination
// port, destination IP, server name, transport protocol, application protocols,
// source type, source IP, source port — and at each step the most specific chains that
// match survive; chains that leave the criterion empty are the fallback for that step.
import net from "node:net";
import { ConfigError, arr, num, onlyFields, str, type Json } from "./json.ts";

export interface CidrRange {
  address: string;
  prefixLen: number;
  family: 4 | 6;
  bits: bigint;
}

export interface ChainMatch {
  destinationPort: number | undefined;
  prefixRanges: CidrRange[];
  serverNames: string[];
  transportProtocol: string | undefined;
  applicationProtocols: string[];
  sourceType: "ANY" | "SAME_IP_OR_LOOPBACK" | "EXTERNAL";
  sourcePrefixRanges: CidrRange[];
  sourcePorts: number[];
}

export interface ConnectionFacts {
  destinationAddress: string;
  destinationPort: number;
  sourceAddress: string;
  sourcePort: number;
  serverName: string | undefined;
  transportProtocol: string;
  applicationProtocols: string[];
}

function ipBits(address: string): { family: 4 | 6; bits: bigint } | undefined {
  const fam = net.isIP(address);
  if (fam === 4) {
    const parts = address.split(".").map(Number);
    return { family: 4, bits: BigInt(((parts[0] << 24) >>> 0) + (parts[1] << 16) + (parts[2] << 8) + parts[3]) };
  }
  if (fam === 6) {
    const [head, tail] = address.split("::") as [string, string | undefined];
    const h = head ? head.split(":") : [];
    const t = tail !== undefined && tail !== "" ? tail.split(":") : [];
    const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill("0"), ...t];
    let bits = 0n;
    for (const g of groups) bits = (bits << 16n) | BigInt(parseInt(g || "0", 16));
    return { family: 6, bits };
  }
  return undefined;
}

export function parseCidr(json: Json, path: string): CidrRange {
  onlyFields(json, path, ["address_prefix", "prefix_len"]);
  const address = str(json.address_prefix) ?? "";
  const parsed = ipBits(address);
  if (!parsed) throw new ConfigError(`${path}.address_prefix`, `"${address}" is not an IP address`);
  const max = parsed.family === 4 ? 32 : 128;
  const prefixLen = num(json.prefix_len) ?? 0;
  if (prefixLen > max) throw new ConfigError(`${path}.prefix_len`, `must be at most ${max}`);
  return { address, prefixLen, family: parsed.family, bits: parsed.bits };
}

/** Length of the longest range containing `address`, or -1. */
function longestMatch(ranges: CidrRange[], address: string): number {
  const a = ipBits(address);
  if (!a) return -1;
  let best = -1;
  for (const r of ranges) {
    if (r.family !== a.family) continue;
    const width = BigInt(r.family === 4 ? 32 : 128);
    const shift = width - BigInt(r.prefixLen);
    if (a.bits >> shift === r.bits >> shift && r.prefixLen > best) best = r.prefixLen;
  }
  return best;
}

export function parseChainMatch(json: Json | undefined, path: string): ChainMatch {
  const m = json ?? {};
  onlyFields(m, path, [
    "destination_port",
    "prefix_ranges",
    "server_names",
    "transport_protocol",
    "application_protocols",
    "source_type",
    "source_prefix_ranges",
    "direct_source_prefix_ranges",
    "source_ports",
  ]);
  if (arr(m.direct_source_prefix_ranges).length) throw new ConfigError(`${path}.direct_source_prefix_ranges`, "not implemented");
  const sourceType = (str(m.source_type) ?? "ANY") as ChainMatch["sourceType"];
  if (!["ANY", "SAME_IP_OR_LOOPBACK", "EXTERNAL"].includes(sourceType)) throw new ConfigError(`${path}.source_type`, `unknown source type ${sourceType}`);
  return {
    destinationPort: num(m.destination_port),
    prefixRanges: arr(m.prefix_ranges).map((r, i) => parseCidr(r, `${path}.prefix_ranges[${i}]`)),
    serverNames: arr(m.server_names).map((s) => String(s).toLowerCase()),
    transportProtocol: str(m.transport_protocol) || undefined,
    applicationProtocols: arr(m.application_protocols).map(String),
    sourceType,
    sourcePrefixRanges: arr(m.source_prefix_ranges).map((r, i) => parseCidr(r, `${path}.source_prefix_ranges[${i}]`)),
    sourcePorts: arr(m.source_ports).map(Number),
  };
}

/** Score of a server-name match: exact beats the longest wildcard; -1 no match. */
function serverNameScore(names: string[], sni: string | undefined): number {
  if (!sni) return -1;
  let best = -1;
  for (const n of names) {
    if (n === sni) return Number.MAX_SAFE_INTEGER;
    if (n.startsWith("*.") && sni.endsWith(n.slice(1)) && n.length > best) best = n.length;
  }
  return best;
}

function isLoopback(address: string): boolean {
  return address.startsWith("127.") || address === "::1";
}

/**
 * Narrow `chains` by one criterion: `score` returns -1 when a chain's non-empty
 * criterion does not match, else a specificity; `isEmpty` tells the wildcard chains.
 */
function narrow<T>(chains: T[], isEmpty: (c: T) => boolean, score: (c: T) => number): T[] {
  let best = -1;
  let winners: T[] = [];
  for (const c of chains) {
    if (isEmpty(c)) continue;
    const s = score(c);
    if (s < 0) continue;
    if (s > best) {
      best = s;
      winners = [c];
    } else if (s === best) winners.push(c);
  }
  return winners.length ? winners : chains.filter(isEmpty);
}

export function selectFilterChain<T extends { match: ChainMatch }>(chains: readonly T[], f: ConnectionFacts): T | undefined {
  let c = [...chains];
  c = narrow(c, (x) => x.match.destinationPort === undefined, (x) => (x.match.destinationPort === f.destinationPort ? 0 : -1));
  c = narrow(c, (x) => x.match.prefixRanges.length === 0, (x) => longestMatch(x.match.prefixRanges, f.destinationAddress));
  c = narrow(c, (x) => x.match.serverNames.length === 0, (x) => serverNameScore(x.match.serverNames, f.serverName));
  c = narrow(c, (x) => x.match.transportProtocol === undefined, (x) => (x.match.transportProtocol === f.transportProtocol ? 0 : -1));
  c = narrow(
    c,
    (x) => x.match.applicationProtocols.length === 0,
    (x) => (x.match.applicationProtocols.some((p) => f.applicationProtocols.includes(p)) ? 0 : -1),
  );
  const local = isLoopback(f.sourceAddress) || f.sourceAddress === f.destinationAddress;
  c = narrow(
    c,
    (x) => x.match.sourceType === "ANY",
    (x) => ((x.match.sourceType === "SAME_IP_OR_LOOPBACK") === local ? 0 : -1),
  );
  c = narrow(c, (x) => x.match.sourcePrefixRanges.length === 0, (x) => longestMatch(x.match.sourcePrefixRanges, f.sourceAddress));
  c = narrow(c, (x) => x.match.sourcePorts.length === 0, (x) => (x.match.sourcePorts.includes(f.sourcePort) ? 0 : -1));
  return c[0];
}
