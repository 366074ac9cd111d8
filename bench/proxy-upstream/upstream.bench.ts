// Micro-benchmark of the upstream half's hot path: host selection per load-balancing policy
// (50 hosts) and requests through the HTTP/1.1 and HTTP/2 pools to a loopback server.
// Run: node --import tsx bench/proxy-upstream/upstream.bench.ts
import http from "node:http";
import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { ClusterManager, hashKey } from "../../src/proxy/upstream/index.ts";
import type { EnvoyJson, UpstreamCluster } from "../../src/proxy/upstream/index.ts";

function cluster(policy: string, extra: EnvoyJson = {}, ports = Array.from({ length: 50 }, (_, i) => 10000 + i)): UpstreamCluster {
  const cm = new ClusterManager();
  const r = cm.applyClusters([{
    name: "b", type: "STATIC", connect_timeout: "1s", lb_policy: policy, ...extra,
    load_assignment: { cluster_name: "b", endpoints: [{ lb_endpoints: ports.map((p, i) => ({ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: p } } }, load_balancing_weight: 1 + (i % 3) })) }] },
  }]);
  if (!r.ok) throw new Error(r.errors.map((e) => e.message).join("\n"));
  return cm.get("b")!;
}

function bench(name: string, n: number, fn: (i: number) => void): void {
  for (let i = 0; i < Math.min(n, 10_000); i++) fn(i); // warm up
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) fn(i);
  const ns = Number(process.hrtime.bigint() - start);
  console.log(`${name.padEnd(34)} ${(n / (ns / 1e9)).toFixed(0).padStart(10)} ops/s ${(ns / n).toFixed(0).padStart(7)} ns/op`);
}

const hashes = Array.from({ length: 1024 }, (_, i) => hashKey(`user-${i}`));
for (const policy of ["ROUND_ROBIN", "LEAST_REQUEST", "RANDOM", "RING_HASH", "MAGLEV"]) {
  const c = cluster(policy);
  bench(`selectHost ${policy} (50 weighted hosts)`, 200_000, (i) => c.selectHost({ hash: hashes[i & 1023] }));
}
bench("hashKey (xxHash64 of a header value)", 500_000, (i) => hashKey(`session-${i & 1023}`));

async function throughput(label: string, c: UpstreamCluster, total: number, concurrency: number): Promise<void> {
  let next = 0;
  const start = process.hrtime.bigint();
  const worker = async () => {
    while (next < total) {
      next++;
      const r = await c.httpRequest(c.selectHost({})!, { method: "GET", path: "/", authority: "bench", headers: {} });
      if (r.kind !== "response") throw new Error(`request failed: ${r.kind}`);
      for await (const _ of r.body) { /* drain */ }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const s = Number(process.hrtime.bigint() - start) / 1e9;
  console.log(`${label.padEnd(34)} ${(total / s).toFixed(0).padStart(10)} req/s (${total} requests, concurrency ${concurrency}, ${c.stats.upstream_cx_total} connections)`);
}

const h1 = http.createServer((_req, res) => res.end("ok"));
await new Promise<void>((r) => h1.listen(0, "127.0.0.1", r));
const h2 = http2.createServer();
h2.on("stream", (stream) => { stream.respond({ ":status": 200 }); stream.end("ok"); });
await new Promise<void>((r) => h2.listen(0, "127.0.0.1", r));
await throughput("HTTP/1.1 pool, loopback upstream", cluster("ROUND_ROBIN", {}, [(h1.address() as AddressInfo).port]), 5000, 16);
await throughput("HTTP/2 pool, loopback upstream", cluster("ROUND_ROBIN", { http2_protocol_options: {} }, [(h2.address() as AddressInfo).port]), 5000, 16);
h1.closeAllConnections();
h1.close();
h2.close();
process.exit(0);
