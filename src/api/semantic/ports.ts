// Port numbers, port names and protocol names, as Istio checks them for Gateways,
// ServiceEntries and Sidecars.
import { Findings, at } from "./findings.ts";
import { num, str } from "./read.ts";
import { isLowerDnsLabel } from "./hosts.ts";

export function isPortNumber(n: number): boolean {
  return Number.isInteger(n) && n >= 1 && n <= 65535;
}

/** Reports a port outside 1..65535; a missing value is the schema's business. */
export function checkPort(f: Findings, path: string, value: unknown): void {
  const n = num(value);
  if (n !== undefined && !isPortNumber(n)) f.error(path, `port number ${n} must be in the range 1..65535`, "use a port between 1 and 65535");
}

// Istio's protocol.Parse, case-insensitive. UDP parses but is rejected where Istio says so.
const PROTOCOLS = ["HTTP", "HTTPS", "GRPC", "GRPC-WEB", "HTTP2", "HTTP_PROXY", "MONGO", "REDIS", "MYSQL", "TCP", "TLS", "UDP"];

export function isProtocol(value: string): boolean {
  return PROTOCOLS.includes(value.toUpperCase());
}

export function checkProtocol(f: Findings, path: string, value: unknown): void {
  const p = str(value);
  if (p === undefined || p === "") return;
  if (!isProtocol(p)) f.error(path, `unknown protocol "${p}"`, `use one of ${PROTOCOLS.join(", ")}`);
}

/** Istio's ValidatePortName: a DNS-1123 label. */
export function checkPortName(f: Findings, path: string, value: unknown, opts: { required?: boolean } = {}): void {
  const name = str(value);
  if (name === undefined) return;
  if (name === "") {
    if (opts.required) f.error(path, "port name must not be empty", 'name the port, e.g. "http" or "https-443"');
    return;
  }
  if (!isLowerDnsLabel(name)) f.error(path, `port name "${name}" is not a valid DNS-1123 label`, 'use lower-case letters, digits and "-", e.g. "http-web"');
}

/** Reports repeated values among items, at the path of each repeat (the first one is fine). */
export function checkUnique<T>(f: Findings, items: { path: string; value: T | undefined }[], what: string, fix: string): void {
  const seen = new Map<string, string>();
  for (const item of items) {
    if (item.value === undefined || item.value === "") continue;
    const key = String(item.value);
    const first = seen.get(key);
    if (first !== undefined) f.error(item.path, `duplicate ${what} ${JSON.stringify(item.value)} (also at ${first})`, fix);
    else seen.set(key, item.path);
  }
}

export { at };
