// Host names as Istio validates them: DNS-1123 labels, a wildcard only as the whole
// leftmost label (`*` or `*.example.com`, or the partial `*foo.example.com` Istio
// tolerates), and the `namespace/host` form of Gateway servers and Sidecar egress.
// Each function returns a problem sentence, or undefined when the value is fine.
import { isIP } from "node:net";

const DNS_LABEL = /^[A-Za-z0-9](?:[-A-Za-z0-9]*[A-Za-z0-9])?$/;
// `*`, or `*` / `*-` followed by an ordinary label (Istio accepts `*foo` as a partial wildcard).
const WILDCARD_LABEL = /^(?:\*|(?:\*|\*-)?[A-Za-z0-9](?:[-A-Za-z0-9]*[A-Za-z0-9])?)$/;
const MAX_HOST = 255;
const MAX_LABEL = 63;

export function isDnsLabel(value: string): boolean {
  return value.length <= MAX_LABEL && DNS_LABEL.test(value);
}

/** Lower-case DNS-1123 label, as Kubernetes requires for namespace and Service names. */
export function isLowerDnsLabel(value: string): boolean {
  return isDnsLabel(value) && value === value.toLowerCase();
}

/** Lower-case DNS-1123 subdomain (Kubernetes object names). */
export function isDnsSubdomain(value: string): boolean {
  return value.length > 0 && value.length <= 253 && value.split(".").every(isLowerDnsLabel);
}

function preconditions(host: string): string | undefined {
  if (host.length === 0) return "host must not be empty";
  if (host.length > MAX_HOST) return `host "${host.slice(0, 40)}..." is longer than ${MAX_HOST} characters`;
  return undefined;
}

/** Every label after the first; an empty last label (trailing dot) is allowed, as in DNS. */
function restLabels(host: string, rest: string[]): string | undefined {
  for (let i = 0; i < rest.length; i++) {
    const label = rest[i];
    if (label === "" && i === rest.length - 1) continue;
    if (!isDnsLabel(label)) {
      if (label.includes("*")) return `host "${host}" has "*" in label "${label}"; a wildcard may only be the leftmost label`;
      return `host "${host}" is not a valid DNS name (label "${label}" is invalid)`;
    }
  }
  return undefined;
}

/** A fully qualified or short DNS name without wildcards. */
export function checkFqdn(host: string): string | undefined {
  const pre = preconditions(host);
  if (pre) return pre;
  return restLabels(host, host.split("."));
}

/** A DNS name whose leftmost label may be a wildcard (`*`, `*.example.com`). */
export function checkWildcardHost(host: string): string | undefined {
  const pre = preconditions(host);
  if (pre) return pre;
  const [first, ...rest] = host.split(".");
  if (first.length > MAX_LABEL || !WILDCARD_LABEL.test(first)) {
    if (first.includes("*")) return `host "${host}" has an invalid wildcard label "${first}"; use "*" alone as the leftmost label, e.g. "*.example.com"`;
    return `host "${host}" is not a valid DNS name (label "${first}" is invalid)`;
  }
  if (first === "*" && rest.length === 0) return undefined;
  return restLabels(host, rest);
}

/** True for `*foo.example.com`: accepted by Istio but a common typo for `*.foo.example.com`. */
export function isPartialWildcard(host: string): boolean {
  const first = host.split(".")[0];
  return first.startsWith("*") && first !== "*";
}

export function isIpAddress(value: string): boolean {
  return isIP(value) !== 0;
}

/**
 * `namespace/host` as Gateway servers and Sidecar egress hosts write it. Gateways also
 * accept a bare host (the namespace then is `*`); Sidecars require the slash form.
 * `~` (no namespace) is only meaningful in a Sidecar.
 */
export function checkNamespacedHost(value: string, where: "gateway" | "sidecar"): string | undefined {
  const slash = value.indexOf("/");
  if (slash < 0) {
    if (where === "gateway") return checkWildcardHost(value);
    return `host "${value}" must have the form namespace/host, e.g. "./*" or "istio-system/*"`;
  }
  const ns = value.slice(0, slash);
  const host = value.slice(slash + 1);
  if (ns === "" || host === "") return `host "${value}" needs both a namespace and a host around "/"`;
  const special = where === "sidecar" ? ["*", ".", "~"] : ["*", "."];
  if (!special.includes(ns) && !isLowerDnsLabel(ns)) {
    return `namespace "${ns}" in host "${value}" is not valid; use ${special.map((s) => `"${s}"`).join(", ")} or a namespace name`;
  }
  return checkWildcardHost(host);
}

/** Istio's host matching: does `a` (possibly a wildcard) match `b` exactly or as a wildcard? */
export function hostMatches(pattern: string, host: string): boolean {
  if (pattern === host) return true;
  if (pattern === "*") return true;
  if (pattern.startsWith("*")) return host.endsWith(pattern.slice(1));
  return false;
}
