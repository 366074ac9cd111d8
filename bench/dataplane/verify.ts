// What the bench checks before it trusts a Skiff path's numbers: that the path really ran
// with the telemetry it claims (Istio's request metrics on each proxy, access log lines
// written) and, for the mTLS path, that the server sidecar saw mutual TLS with the client
// sidecar's SPIFFE identity and the client verifies the server's. Pure functions over the
// proxies' admin output, so they are unit tested (test/bench/verify.test.ts); the runner
// fetches the text and fails the path loudly on any problem they return.

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses Prometheus text exposition (comments skipped; label values unescaped). */
export function parsePrometheus(text: string): Sample[] {
  const out: Sample[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const brace = line.indexOf("{");
    const space = line.indexOf(" ");
    if (brace < 0 || (space >= 0 && space < brace)) {
      const [name, value] = line.split(/\s+/);
      out.push({ name, labels: {}, value: Number(value) });
      continue;
    }
    const name = line.slice(0, brace);
    const labels: Record<string, string> = {};
    let i = brace + 1;
    // Bounded by the line length: each step consumes at least one character.
    while (i < line.length && line[i] !== "}") {
      const eq = line.indexOf("=", i);
      if (eq < 0 || line[eq + 1] !== '"') throw new Error(`prometheus text: bad label in: ${line}`);
      const key = line.slice(i, eq).trim();
      let j = eq + 2;
      let value = "";
      while (j < line.length && line[j] !== '"') {
        if (line[j] === "\\" && j + 1 < line.length) {
          const c = line[j + 1];
          value += c === "n" ? "\n" : c;
          j += 2;
        } else value += line[j++];
      }
      labels[key] = value;
      i = j + 1;
      if (line[i] === ",") i++;
    }
    out.push({ name, labels, value: Number(line.slice(i + 1).trim().split(/\s+/)[0]) });
  }
  return out;
}

/** Sum of a metric's samples whose labels include every pair of `match`. */
export function sumSeries(samples: Sample[], name: string, match: Record<string, string> = {}): number {
  let n = 0;
  for (const s of samples) {
    if (s.name !== name) continue;
    if (Object.entries(match).every(([k, v]) => s.labels[k] === v)) n += s.value;
  }
  return n;
}

export const REQUESTS_METRIC = "istio_requests_total";

/** One proxy of a path, as the check sees it: its role and its /stats/prometheus text. */
export interface ProxyStats {
  name: string;
  reporter: "source" | "destination";
  prometheus: string;
}

/**
 * Telemetry on: every proxy of the path counts the check's requests in
 * `istio_requests_total` under its reporter, and the shared access log file grew by at
 * least one line per request per proxy (each proxy logs each request once).
 */
export function telemetryProblems(o: { path: string; requests: number; proxies: ProxyStats[]; before: ProxyStats[]; accessLogLinesAdded: number }): string[] {
  const problems: string[] = [];
  for (const p of o.proxies) {
    const was = o.before.find((b) => b.name === p.name);
    const count = sumSeries(parsePrometheus(p.prometheus), REQUESTS_METRIC, { reporter: p.reporter });
    const countBefore = was ? sumSeries(parsePrometheus(was.prometheus), REQUESTS_METRIC, { reporter: p.reporter }) : 0;
    if (count - countBefore < o.requests) problems.push(`${o.path}: proxy ${p.name} counted ${count - countBefore} of ${o.requests} requests in ${REQUESTS_METRIC}{reporter="${p.reporter}"}: the stats filter is not on`);
  }
  const expected = o.requests * o.proxies.length;
  if (o.accessLogLinesAdded < expected) problems.push(`${o.path}: the access log grew by ${o.accessLogLinesAdded} lines, expected ${expected} (${o.requests} requests × ${o.proxies.length} proxies): access logs are not on`);
  return problems;
}

/**
 * Mutual TLS on the mesh path, from both ends:
 * - the server sidecar's listeners completed TLS handshakes (its only traffic is this path's);
 * - with metrics on, it reported the requests as `connection_security_policy="mutual_tls"`
 *   from the client's SPIFFE ID (the peer presented a mesh certificate), and none as "none";
 * - the client sidecar's cluster for the service verifies the server's SPIFFE ID
 *   (a SAN matcher naming it in the cluster's TLS context in its config_dump).
 */
export function mtlsProblems(o: {
  serverHandshakes: number;
  serverPrometheus?: string;
  clientPrincipal: string;
  clientConfigDump: unknown;
  cluster: string;
  serverPrincipal: string;
}): string[] {
  const problems: string[] = [];
  if (o.serverHandshakes <= 0) problems.push("skiff-mesh-mtls: the server sidecar's inbound listener counted no TLS handshake: the client sidecar did not use TLS");
  if (o.serverPrometheus !== undefined) {
    const samples = parsePrometheus(o.serverPrometheus);
    const mutual = sumSeries(samples, REQUESTS_METRIC, { reporter: "destination", connection_security_policy: "mutual_tls", source_principal: o.clientPrincipal });
    const plain = sumSeries(samples, REQUESTS_METRIC, { reporter: "destination", connection_security_policy: "none" });
    if (mutual <= 0) problems.push(`skiff-mesh-mtls: the server sidecar reported no request with connection_security_policy="mutual_tls" from ${o.clientPrincipal}`);
    if (plain > 0) problems.push(`skiff-mesh-mtls: the server sidecar reported ${plain} requests with connection_security_policy="none"`);
  }
  const cluster = findCluster(o.clientConfigDump, o.cluster);
  if (!cluster) problems.push(`skiff-mesh-mtls: the client sidecar has no cluster ${o.cluster}`);
  else if (!JSON.stringify(cluster).includes(JSON.stringify(o.serverPrincipal))) problems.push(`skiff-mesh-mtls: the client sidecar's cluster ${o.cluster} does not verify the server's SPIFFE ID ${o.serverPrincipal}`);
  return problems;
}

/** A cluster by name anywhere in a config_dump (static or dynamic, active or warming). */
export function findCluster(dump: unknown, name: string): unknown {
  const seen: unknown[] = [dump];
  // Breadth-first over the JSON tree; bounded by its size.
  for (let i = 0; i < seen.length && i < 1_000_000; i++) {
    const node = seen[i];
    if (node === null || typeof node !== "object") continue;
    const rec = node as Record<string, unknown>;
    if (rec.name === name && ("type" in rec || "transport_socket" in rec || "transport_socket_matches" in rec || "eds_cluster_config" in rec)) return rec;
    for (const v of Object.values(rec)) if (v !== null && typeof v === "object") seen.push(v);
  }
  return undefined;
}
