// Traffic capture for netns mode: the iptables nat rules that send a workload's TCP
// through its sidecar, with Istio's chain names and semantics so that what an Istio
// user knows (and `iptables-save` shows) carries over:
//   inbound  (PREROUTING)  → ISTIO_INBOUND  → ISTIO_IN_REDIRECT → 15006 (virtualInbound)
//   outbound (OUTPUT)      → ISTIO_OUTPUT   → ISTIO_REDIRECT    → 15001 (virtualOutbound)
// The proxy's own traffic (its uid/gid) is never captured — otherwise its upstream
// connections would loop back into itself — and neither is plain loopback traffic of
// the app. DNS (udp and tcp port 53) goes to the agent's DNS proxy.
//
// This module is pure: it turns options into iptables-restore input (golden-tested).
// capture-apply.ts runs it inside a namespace.

export const CAPTURE_DEFAULTS = {
  inboundPort: 15006,
  outboundPort: 15001,
  dnsPort: 15053,
  /** Proxy admin, merged metrics/health, readiness, Prometheus: reached directly, as in Istio. */
  excludeInboundPorts: [15000, 15020, 15021, 15090] as readonly number[],
};

export interface CaptureOptions {
  /** The uid the sidecar (and the agent's DNS proxy) runs under; its traffic passes untouched. */
  proxyUid: number;
  /** Its gid; also exempt (Istio exempts both). Defaults to proxyUid. */
  proxyGid?: number;
  inboundPort?: number;
  outboundPort?: number;
  /** Where DNS goes; `false` leaves DNS alone. */
  dnsPort?: number | false;
  /** Inbound destination ports that skip capture, besides the defaults above. */
  excludeInboundPorts?: readonly number[];
  /**
   * Inbound sources (addresses or CIDRs) that skip capture: the runtime's probe address.
   * Istio rewrites kubelet probes to its agent's port 15020 for the same reason: a probe
   * has no mesh identity, so STRICT mTLS or an ALLOW policy would refuse it.
   */
  excludeInboundSources?: readonly string[];
  /**
   * Inbound sources whose connections go to the app on 127.0.0.1 (DNAT, same port)
   * instead of the sidecar: the runtime's readiness probes. Like excludeInboundSources
   * they skip capture, but they reach the app where its sidecar reaches it, so an app
   * listening on 127.0.0.1 only (served fine through the sidecar) is ready too.
   * Needs `route_localnet` in the namespace (capture-apply.ts sets it); the raw table
   * then drops any other packet that arrives for 127.0.0.0/8 from outside, which the
   * kernel would otherwise drop as a martian.
   */
  appProbeSources?: readonly string[];
  /** Outbound destinations (CIDRs) that skip capture, e.g. the control plane's address. */
  excludeOutboundCidrs?: readonly string[];
}

/** Istio's source address for inbound passthrough to the app (never captured). */
export const INBOUND_PASSTHROUGH_SOURCE = "127.0.0.6/32";

export class CaptureOptionsError extends Error {}

/**
 * The nat table as iptables-restore input. Restoring it replaces the namespace's whole
 * nat table: the namespace belongs to one replica, so nothing else lives there, and a
 * second apply is idempotent instead of stacking duplicate rules.
 */
export function captureRules(options: CaptureOptions): string {
  const o = normalise(options);
  const uid = String(o.proxyUid);
  const gid = String(o.proxyGid);
  const lines: string[] = [
    "*nat",
    ":PREROUTING ACCEPT [0:0]",
    ":INPUT ACCEPT [0:0]",
    ":OUTPUT ACCEPT [0:0]",
    ":POSTROUTING ACCEPT [0:0]",
    ":ISTIO_INBOUND - [0:0]",
    ":ISTIO_IN_REDIRECT - [0:0]",
    ":ISTIO_OUTPUT - [0:0]",
    ":ISTIO_REDIRECT - [0:0]",
  ];

  // Inbound: everything TCP except the ports the proxy serves itself.
  lines.push("-A PREROUTING -p tcp -j ISTIO_INBOUND");
  for (const port of o.excludeInboundPorts) lines.push(`-A ISTIO_INBOUND -p tcp --dport ${port} -j RETURN`);
  for (const source of o.excludeInboundSources) lines.push(`-A ISTIO_INBOUND -s ${source} -p tcp -j RETURN`);
  for (const source of o.appProbeSources) lines.push(`-A ISTIO_INBOUND -s ${source} -p tcp -j DNAT --to-destination 127.0.0.1`);
  lines.push("-A ISTIO_INBOUND -p tcp -j ISTIO_IN_REDIRECT");
  lines.push(`-A ISTIO_IN_REDIRECT -p tcp -j REDIRECT --to-ports ${o.inboundPort}`);

  // DNS first, in OUTPUT itself: a resolver on loopback (127.0.0.53) would otherwise be
  // skipped by the loopback rule below. The proxy's own queries (its upstream) pass.
  if (o.dnsPort !== false) {
    for (const proto of ["udp", "tcp"]) {
      lines.push(`-A OUTPUT -p ${proto} --dport 53 -m owner --uid-owner ${uid} -j RETURN`);
      lines.push(`-A OUTPUT -p ${proto} --dport 53 -m owner --gid-owner ${gid} -j RETURN`);
      lines.push(`-A OUTPUT -p ${proto} --dport 53 -j REDIRECT --to-ports ${o.dnsPort}`);
    }
  }

  // Outbound.
  lines.push("-A OUTPUT -p tcp -j ISTIO_OUTPUT");
  // The proxy's inbound passthrough to the app uses this source: leave it alone.
  lines.push(`-A ISTIO_OUTPUT -s ${INBOUND_PASSTHROUGH_SOURCE} -o lo -j RETURN`);
  for (const [kind, id] of [["uid", uid], ["gid", gid]] as const) {
    // The proxy calling this workload's own address (a service whose endpoint is this
    // very pod) leaves through lo: treat it as inbound, so inbound policy applies.
    lines.push(`-A ISTIO_OUTPUT ! -d 127.0.0.1/32 -o lo -p tcp -m owner --${kind}-owner ${id} -j ISTIO_IN_REDIRECT`);
    // The app talking to itself over loopback is not mesh traffic.
    lines.push(`-A ISTIO_OUTPUT -o lo -m owner ! --${kind}-owner ${id} -j RETURN`);
    // The proxy's own upstream connections.
    lines.push(`-A ISTIO_OUTPUT -m owner --${kind}-owner ${id} -j RETURN`);
  }
  lines.push("-A ISTIO_OUTPUT -d 127.0.0.1/32 -j RETURN");
  for (const cidr of o.excludeOutboundCidrs) lines.push(`-A ISTIO_OUTPUT -d ${cidr} -j RETURN`);
  lines.push("-A ISTIO_OUTPUT -j ISTIO_REDIRECT");
  lines.push(`-A ISTIO_REDIRECT -p tcp -j REDIRECT --to-ports ${o.outboundPort}`);
  lines.push("COMMIT");
  if (o.appProbeSources.length > 0) {
    // route_localnet lets the probes' DNAT to 127.0.0.1 through; nothing else may use it.
    // The raw table sees the packet before the DNAT, so a probe (still addressed to the
    // pod) passes and a packet sent to 127.0.0.0/8 from the bridge does not.
    lines.push("*raw", ":PREROUTING ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]", "-A PREROUTING ! -i lo -d 127.0.0.0/8 -j DROP", "COMMIT");
  }
  return lines.join("\n") + "\n";
}

/** Whether these options DNAT probes to loopback (then the namespace needs route_localnet). */
export function needsRouteLocalnet(options: CaptureOptions): boolean {
  return (options.appProbeSources ?? []).length > 0;
}

/** iptables-restore input that empties the nat table again (capture off). */
export function captureRemovalRules(): string {
  return ["*nat", ":PREROUTING ACCEPT [0:0]", ":INPUT ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]", ":POSTROUTING ACCEPT [0:0]", "COMMIT", ""].join("\n");
}

interface Normalised {
  proxyUid: number;
  proxyGid: number;
  inboundPort: number;
  outboundPort: number;
  dnsPort: number | false;
  excludeInboundPorts: number[];
  excludeInboundSources: string[];
  appProbeSources: string[];
  excludeOutboundCidrs: string[];
}

function normalise(o: CaptureOptions): Normalised {
  const id = (field: string, v: number): number => {
    if (!Number.isInteger(v) || v < 0 || v > 0xfffffffe) throw new CaptureOptionsError(`capture: ${field} must be a uid/gid (a non-negative integer), got ${String(v)}`);
    return v;
  };
  const port = (field: string, v: number): number => {
    if (!Number.isInteger(v) || v < 1 || v > 65535) throw new CaptureOptionsError(`capture: ${field} must be a port (1-65535), got ${String(v)}`);
    return v;
  };
  const proxyUid = id("proxyUid", o.proxyUid);
  if (proxyUid === 0) {
    // Root's traffic would all pass uncaptured — the app usually runs as root here.
    throw new CaptureOptionsError("capture: proxyUid 0 (root) would exempt root's traffic from capture; run the proxy under its own uid (e.g. the skiff-proxy user)");
  }
  const excludes = [...CAPTURE_DEFAULTS.excludeInboundPorts, ...(o.excludeInboundPorts ?? []).map((p, i) => port(`excludeInboundPorts[${i}]`, p))];
  return {
    proxyUid,
    proxyGid: id("proxyGid", o.proxyGid ?? proxyUid),
    inboundPort: port("inboundPort", o.inboundPort ?? CAPTURE_DEFAULTS.inboundPort),
    outboundPort: port("outboundPort", o.outboundPort ?? CAPTURE_DEFAULTS.outboundPort),
    dnsPort: o.dnsPort === false ? false : port("dnsPort", o.dnsPort ?? CAPTURE_DEFAULTS.dnsPort),
    excludeInboundPorts: [...new Set(excludes)],
    excludeInboundSources: (o.excludeInboundSources ?? []).map((c, i) => cidr(`excludeInboundSources[${i}]`, c)),
    appProbeSources: (o.appProbeSources ?? []).map((c, i) => cidr(`appProbeSources[${i}]`, c)),
    excludeOutboundCidrs: (o.excludeOutboundCidrs ?? []).map((c, i) => cidr(`excludeOutboundCidrs[${i}]`, c)),
  };
}

function cidr(field: string, v: string): string {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})(?:\/(\d{1,2}))?$/.exec(v);
  const ok = m !== null && m.slice(1, 5).every((x) => Number(x) <= 255) && (m[5] === undefined || Number(m[5]) <= 32);
  if (!ok) throw new CaptureOptionsError(`capture: ${field} must be an IPv4 address or CIDR like 198.18.0.1/32, got ${JSON.stringify(v)}`);
  return m[5] === undefined ? `${v}/32` : v;
}
