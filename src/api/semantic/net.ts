// IP addresses and CIDR blocks (authorization ipBlocks, ServiceEntry addresses, subnets).
import { isIP } from "node:net";

/** A listener bind address: an IP address, or `unix://PATH` for a Unix domain socket. */
export function checkBind(value: string): string | undefined {
  if (value.startsWith("unix://")) return value.length > "unix://".length ? undefined : `bind "${value}" needs a socket path after unix://`;
  return isIP(value) ? undefined : `bind "${value}" is not an IP address or unix:// path`;
}

/** An IP address or a CIDR block such as 10.0.0.0/16 or 2001:db8::/32. */
export function checkIpOrCidr(value: string): string | undefined {
  if (value === "") return "IP address must not be empty";
  const slash = value.indexOf("/");
  if (slash < 0) return isIP(value) ? undefined : `"${value}" is not an IP address or CIDR block`;
  const address = value.slice(0, slash);
  const bits = value.slice(slash + 1);
  const family = isIP(address);
  if (family === 0) return `"${value}" is not a valid CIDR block (bad address "${address}")`;
  const max = family === 4 ? 32 : 128;
  if (!/^\d{1,3}$/.test(bits) || Number(bits) > max) return `"${value}" is not a valid CIDR block (prefix length must be 0..${max})`;
  return undefined;
}
