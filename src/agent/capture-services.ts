// Service VIPs for workloads WITHOUT a sidecar in netns mode (namespaces without
// `istio-injection: enabled`, the tutorial's legacy workloads). With a sidecar, a
// connection to a VIP is captured to 15001 and the proxy picks an endpoint. Without
// one, something must play kube-proxy: these nat rules, applied inside the legacy
// workload's own namespace, DNAT a VIP:port to one of the service's endpoints, chosen
// at random with equal weight (iptables' statistic match, as kube-proxy does).
//
// Why in the client's namespace rather than on the host: the DNAT and its reverse stay
// in one conntrack table, so the host needs neither ip_forward nor masquerading for
// hairpin traffic on the bridge, and the rules vanish with the namespace. The endpoint
// side still goes through its own sidecar's inbound capture (15006): the real path.
//
// Pure: options in, iptables-restore text out (golden-tested); apply with applyServiceRules.
import { execFile } from "node:child_process";

export interface ServiceVip {
  /** The service host, for the comment on its chain. */
  hostname: string;
  vip: string;
  port: number;
  /** Where the service's pods serve this port (address and target port). */
  endpoints: readonly { address: string; port: number }[];
}

export const SERVICES_CHAIN = "SKIFF_SERVICES";

/**
 * The namespace's nat table (one chain per service port, jumped to from OUTPUT) and its
 * filter table (a service port without endpoints is refused at once with a reset, as
 * kube-proxy does, instead of timing out; REJECT is a filter-table target).
 */
export function serviceRules(services: readonly ServiceVip[]): string {
  const sorted = [...services].sort((a, b) => a.vip.localeCompare(b.vip) || a.port - b.port);
  const head = ["*nat", ":PREROUTING ACCEPT [0:0]", ":INPUT ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]", ":POSTROUTING ACCEPT [0:0]", `:${SERVICES_CHAIN} - [0:0]`];
  const body: string[] = [`-A OUTPUT -p tcp -j ${SERVICES_CHAIN}`];
  const refused: string[] = [];
  sorted.forEach((s, i) => {
    const comment = `-m comment --comment "${s.hostname.replace(/"/g, "")}:${s.port}"`;
    const match = `-d ${s.vip}/32 -p tcp --dport ${s.port} ${comment}`;
    if (s.endpoints.length === 0) {
      refused.push(`-A OUTPUT ${match} -j REJECT --reject-with tcp-reset`);
      return;
    }
    const chain = `SKIFF_SVC_${i}`;
    head.push(`:${chain} - [0:0]`);
    body.push(`-A ${SERVICES_CHAIN} ${match} -j ${chain}`);
    const eps = [...s.endpoints].sort((a, b) => a.address.localeCompare(b.address) || a.port - b.port);
    eps.forEach((ep, j) => {
      const left = eps.length - j;
      // Rule j takes 1/left of what reaches it, so each endpoint gets 1/n overall.
      const pick = left > 1 ? `-m statistic --mode random --probability ${(1 / left).toFixed(5)} ` : "";
      body.push(`-A ${chain} -p tcp ${pick}-j DNAT --to-destination ${ep.address}:${ep.port}`);
    });
  });
  const filter = ["*filter", ":INPUT ACCEPT [0:0]", ":FORWARD ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]", ...refused, "COMMIT"];
  return [...head, ...body, "COMMIT", ...filter, ""].join("\n");
}

/**
 * Replaces the nat and filter tables of a sidecar-less namespace with
 * `serviceRules(services)`. Call again whenever services or endpoints change;
 * iptables-restore swaps each table atomically.
 */
export function applyServiceRules(netns: string, services: readonly ServiceVip[]): Promise<void> {
  return restoreNat(netns, serviceRules(services));
}

function restoreNat(netns: string, rules: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = execFile("ip", ["netns", "exec", netns, "iptables-restore", "-w", "5"], { timeout: 15_000 }, (err, _stdout, stderr) => {
      if (!err) return resolve();
      reject(new Error(`cannot apply service VIP rules in network namespace ${netns}: ${stderr.trim() || err.message}`));
    });
    child.stdin?.on("error", () => {});
    child.stdin?.end(rules);
  });
}
