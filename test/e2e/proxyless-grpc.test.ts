// The control plane against a real, external xDS client: @grpc/grpc-js-xds calling
// `xds:///greeter.demo.svc.cluster.local:50051`, served by two real gRPC servers (v1,
// v2) registered as WorkloadEntries. A VirtualService splits 90/10, a header match
// pins to v2, and editing the VirtualService file changes the split in the running
// client. Everything listens on 127.0.0.1 only.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import * as grpcXds from "@grpc/grpc-js-xds";
import { ControlPlane } from "../../src/pilot/index.ts";
import { formatProxyStatus } from "../../src/cli/commands/proxy-status.ts";
import type { ProxySyncStatus } from "../../src/pilot/index.ts";
import { meshYaml, serviceYaml, versionSubsetsYaml, workloadEntryYaml } from "../pilot/helpers/mesh-yaml.ts";

const FQDN = "greeter.demo.svc.cluster.local";
const TARGET = `xds:///${FQDN}:50051`;
const CALLS = 2000;

/** A unary method with raw bytes in and out: no proto needed to see who answered. */
const HELLO: grpc.MethodDefinition<Buffer, Buffer> = {
  path: "/demo.Greeter/Hello",
  requestStream: false,
  responseStream: false,
  requestSerialize: (b: Buffer) => b,
  requestDeserialize: (b: Buffer) => b,
  responseSerialize: (b: Buffer) => b,
  responseDeserialize: (b: Buffer) => b,
};

async function startBackend(version: string): Promise<{ port: number; server: grpc.Server }> {
  const server = new grpc.Server();
  server.addService({ Hello: HELLO }, {
    Hello: (_call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => callback(null, Buffer.from(version)),
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  return { port, server };
}

function greeterMesh(v1Port: number, v2Port: number): string {
  return meshYaml(
    serviceYaml({ name: "greeter", namespace: "demo", port: 50051, portName: "grpc" }),
    workloadEntryYaml("greeter-v1", "demo", `{ address: 127.0.0.1, labels: { app: greeter, version: v1 }, ports: { grpc: ${v1Port} } }`),
    workloadEntryYaml("greeter-v2", "demo", `{ address: 127.0.0.1, labels: { app: greeter, version: v2 }, ports: { grpc: ${v2Port} } }`),
    versionSubsetsYaml("greeter", "demo", ["v1", "v2"]),
  );
}

function virtualService(v1Weight: number, v2Weight: number): string {
  return `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: greeter, namespace: demo }
spec:
  hosts: [greeter]
  http:
  - match: [{ headers: { x-canary: { exact: "yes" } } }]
    route: [{ destination: { host: greeter, subset: v2 } }]
  - route:
    - { destination: { host: greeter, subset: v1 }, weight: ${v1Weight} }
    - { destination: { host: greeter, subset: v2 }, weight: ${v2Weight} }
`;
}

/** Makes `count` calls, 50 in flight at a time; returns how many each version answered. */
async function callMany(client: grpc.Client, count: number, metadata?: grpc.Metadata): Promise<Record<string, number>> {
  const tally: Record<string, number> = {};
  const one = () =>
    new Promise<void>((resolve, reject) => {
      client.makeUnaryRequest(HELLO.path, HELLO.requestSerialize, HELLO.responseDeserialize, Buffer.from("hi"), metadata ?? new grpc.Metadata(), { deadline: Date.now() + 10_000 }, (err, reply) => {
        if (err) return reject(err);
        const who = reply?.toString() ?? "?";
        tally[who] = (tally[who] ?? 0) + 1;
        resolve();
      });
    });
  for (let done = 0; done < count; done += 50) {
    await Promise.all(Array.from({ length: Math.min(50, count - done) }, one));
  }
  return tally;
}

/** |observed - expected| within 4 standard deviations of a binomial(n, p). */
function assertSplit(observed: number, n: number, p: number, what: string): void {
  const sigma = Math.sqrt(n * p * (1 - p));
  assert.ok(Math.abs(observed - n * p) <= 4 * sigma, `${what}: ${observed} of ${n}, expected ${n * p} ± ${Math.round(4 * sigma)}`);
}

async function syncz(port: number): Promise<ProxySyncStatus[]> {
  return (await fetch(`http://127.0.0.1:${port}/debug/syncz`)).json() as Promise<ProxySyncStatus[]>;
}

test("a proxyless gRPC client follows the VirtualService split, header match and live edits", { timeout: 60_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "skiff-proxyless-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const v1 = await startBackend("v1");
  const v2 = await startBackend("v2");
  t.after(() => {
    v1.server.forceShutdown();
    v2.server.forceShutdown();
  });
  writeFileSync(join(dir, "mesh.yaml"), greeterMesh(v1.port, v2.port));
  const vsFile = join(dir, "virtual-service.yaml");
  writeFileSync(vsFile, virtualService(90, 10));

  const cp = new ControlPlane({
    files: [dir],
    xdsPort: 0,
    monitoringPort: 0,
    debounce: { quietMs: 20, maxDelayMs: 200 },
    fileDebounceMs: 20,
    log: () => {},
  });
  const ports = await cp.start();
  t.after(() => cp.stop());
  assert.deepEqual(cp.diagnostics().filter((d) => d.severity === "error"), []);

  // grpc-js-xds reads its bootstrap from this variable when the first xds: channel is made.
  process.env.GRPC_XDS_BOOTSTRAP_CONFIG = JSON.stringify({
    xds_servers: [{ server_uri: `127.0.0.1:${ports.xds}`, channel_creds: [{ type: "insecure" }], server_features: ["xds_v3"] }],
    node: { id: "sidecar~127.0.0.1~client.demo~demo.svc.cluster.local", locality: {}, metadata: { GENERATOR: "grpc", NAMESPACE: "demo" } },
  });
  grpcXds.register();
  const client = new grpc.Client(TARGET, grpc.credentials.createInsecure());
  t.after(() => client.close());

  const first = await callMany(client, CALLS);
  assert.equal((first.v1 ?? 0) + (first.v2 ?? 0), CALLS, `only v1 and v2 answer: ${JSON.stringify(first)}`);
  assertSplit(first.v2 ?? 0, CALLS, 0.1, "90/10 split, calls to v2");

  const canary = new grpc.Metadata();
  canary.set("x-canary", "yes");
  assert.deepEqual(await callMany(client, 200, canary), { v2: 200 }, "the header match sends every call to v2");

  // The control plane's view of the client: a proxyless proxy, every type ACKed.
  const [status] = await syncz(ports.monitoring);
  assert.equal(status.type, "proxyless");
  for (const type of ["LDS", "RDS", "CDS", "EDS"] as const) assert.equal(status.types[type]?.state, "SYNCED", `${type} is SYNCED`);
  assert.match(formatProxyStatus([status]), /client\.demo\s+proxyless\s+Kubernetes\s+SYNCED\s+SYNCED\s+SYNCED\s+SYNCED/);
  const rdsBefore = status.types.RDS?.ackedVersion;

  // Edit the file: 10/90 now. The running client picks it up over RDS.
  writeFileSync(vsFile, virtualService(10, 90));
  for (let i = 0; i < 300; i++) {
    const [s] = await syncz(ports.monitoring);
    if (s.types.RDS?.state === "SYNCED" && s.types.RDS.ackedVersion !== rdsBefore) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const [after] = await syncz(ports.monitoring);
  assert.notEqual(after.types.RDS?.ackedVersion, rdsBefore, "the client ACKed a new route configuration");
  const second = await callMany(client, CALLS);
  assertSplit(second.v2 ?? 0, CALLS, 0.9, "10/90 split after the edit, calls to v2");
  assert.ok(after.types.LDS?.ackedVersion === status.types.LDS?.ackedVersion, "only routes changed: the listener was not resent");
});
