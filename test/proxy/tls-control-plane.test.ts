// The control plane's TLS port (Istio's 15012): xDS and the CA service together over TLS
// with a serving certificate from the mesh CA, the CA kept in --ca-dir across restarts,
// and the plaintext port still there for development. A proxy whose agent names the TLS
// port fetches its configuration there, verifying the control plane against the mesh root.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import { mkdtempSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ControlPlane } from "../../src/pilot/index.ts";
import { CaClient, MeshCa, peerSpiffeId } from "../../src/ca/index.ts";
import { Logger, parseBootstrap, Proxy } from "../../src/proxy/index.ts";
import { encodeMessage, protoRoot, TypeUrl } from "../../src/envoy/index.ts";
import { makeCsr } from "../ca/helpers.ts";

const ADS = "/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources";

/** One CDS request over `credentials`; resolves with the response's type URL. */
function firstAdsResponse(address: string, credentials: grpc.ChannelCredentials): Promise<string> {
  const client = new grpc.Client(address, credentials, { "grpc.ssl_target_name_override": "istiod.istio-system.svc" });
  return new Promise((resolve, reject) => {
    const call = client.makeBidiStreamRequest(
      ADS,
      (req: Record<string, unknown>) => encodeMessage("envoy.service.discovery.v3.DiscoveryRequest", req),
      (bytes: Buffer) => {
        const type = protoRoot().lookupType("envoy.service.discovery.v3.DiscoveryResponse");
        return type.toObject(type.decode(bytes)) as { type_url: string };
      },
    );
    const timer = setTimeout(() => reject(new Error("no ADS response in 10 s")), 10_000);
    call.on("data", (res: { type_url: string }) => {
      clearTimeout(timer);
      call.cancel();
      client.close();
      resolve(res.type_url);
    });
    call.on("error", (err: grpc.ServiceError) => {
      clearTimeout(timer);
      if (err.code !== grpc.status.CANCELLED) reject(err);
    });
    call.write({ node: { id: "sidecar~127.0.0.1~a.demo~demo.svc.cluster.local", metadata: { NAMESPACE: "demo" } }, type_url: TypeUrl.cluster });
  });
}

test("xDS and the CA are served together over TLS; the CA lives in --ca-dir across restarts", async () => {
  const dir = mkdtempSync(join(tmpdir(), "skiff-cp-tls-"));
  writeFileSync(join(dir, "mesh.yaml"), "apiVersion: v1\nkind: Namespace\nmetadata: { name: demo }\n");
  const caDir = join(dir, "ca");
  const start = async () => {
    const cp = new ControlPlane({ files: [join(dir, "mesh.yaml")], xdsPort: 0, monitoringPort: 0, xdsTlsPort: 0, caDir, log: () => {} });
    await cp.start();
    return cp;
  };
  let cp = await start();
  try {
    const tlsPort = cp.ports!.xdsTls!;
    const roots = cp.meshCa!.ca.rootsPem();
    // The CA service: a workload token from the runtime key the control plane trusts.
    const token = await cp.meshCa!.tokens.issue({ namespace: "demo", serviceAccount: "sa-a" });
    const { csrPem } = await makeCsr(["spiffe://cluster.local/ns/demo/sa/sa-a"]);
    const chain = await new CaClient({ address: `127.0.0.1:${tlsPort}`, rootsPem: roots }).createCertificate(csrPem, 3600, token);
    assert.equal(peerSpiffeId(chain[0]), "spiffe://cluster.local/ns/demo/sa/sa-a");
    // ADS on the same TLS port, verified against the mesh root; and still on plaintext 15010.
    assert.equal(await firstAdsResponse(`127.0.0.1:${tlsPort}`, grpc.credentials.createSsl(Buffer.from(roots))), TypeUrl.cluster);
    assert.equal(await firstAdsResponse(`127.0.0.1:${cp.ports!.xds}`, grpc.credentials.createInsecure()), TypeUrl.cluster);
    // A client that does not trust the mesh root refuses the server.
    await assert.rejects(firstAdsResponse(`127.0.0.1:${tlsPort}`, grpc.credentials.createSsl()));
    await cp.stop();
    cp = await start();
    assert.equal(cp.meshCa!.ca.rootsPem(), roots, "the same root after a restart");
  } finally {
    await cp.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the TLS port without a CA directory is refused with the fix", async () => {
  const dir = mkdtempSync(join(tmpdir(), "skiff-cp-tls-"));
  writeFileSync(join(dir, "mesh.yaml"), "apiVersion: v1\nkind: Namespace\nmetadata: { name: demo }\n");
  const cp = new ControlPlane({ files: [join(dir, "mesh.yaml")], xdsPort: 0, monitoringPort: 0, xdsTlsPort: 0, log: () => {} });
  try {
    await assert.rejects(cp.start(), /needs a CA directory \(--ca-dir\)/);
  } finally {
    await cp.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

/** A sidecar proxy whose ADS server is `address` over TLS verified against `rootsPem`; log lines kept. */
async function tlsProxy(address: string, rootsPem: string): Promise<{ proxy: Proxy; log: string[] }> {
  const bootstrap = parseBootstrap(
    {
      node: { id: "sidecar~127.0.0.1~a.demo~demo.svc.cluster.local", cluster: "a.demo", metadata: { NAMESPACE: "demo" } },
      admin: { address: { socket_address: { address: "127.0.0.1", port_value: 0 } } },
      xds_address: address,
    },
    "test-bootstrap",
  );
  bootstrap.xdsTls = { rootsPem };
  const log: string[] = [];
  const proxy = new Proxy({ bootstrap, logger: new Logger("warning", (line) => log.push(line)) });
  await proxy.start();
  return { proxy, log };
}

async function until(what: string, check: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 50));
  assert.ok(check(), `timed out waiting for ${what}`);
}

test("a proxy fetches its configuration over TLS from the TLS port; one trusting another root gets none", async () => {
  const dir = mkdtempSync(join(tmpdir(), "skiff-cp-tls-"));
  writeFileSync(join(dir, "mesh.yaml"), "apiVersion: v1\nkind: Namespace\nmetadata: { name: demo }\n");
  const cp = new ControlPlane({ files: [join(dir, "mesh.yaml")], xdsPort: 0, monitoringPort: 0, xdsTlsPort: 0, caDir: join(dir, "ca"), log: () => {} });
  const proxies: Proxy[] = [];
  try {
    await cp.start();
    const address = `127.0.0.1:${cp.ports!.xdsTls!}`;
    const trusting = await tlsProxy(address, cp.meshCa!.ca.rootsPem());
    proxies.push(trusting.proxy);
    await until("CDS over TLS", () => trusting.proxy.xds!.typeStatus("CDS").version !== "");
    assert.ok(trusting.proxy.clusters.dump().some((c) => c.name === "BlackHoleCluster"), "the sidecar's clusters came from the control plane");
    assert.equal(trusting.proxy.xds!.counters.nacks, 0);

    const otherRoot = (await MeshCa.load({ kind: "self-signed", dir: join(dir, "other-ca") })).rootsPem();
    const doubting = await tlsProxy(address, otherRoot);
    proxies.push(doubting.proxy);
    await until("the refused TLS stream", () => doubting.log.some((l) => l.includes(`xDS stream to ${address} ended`)));
    assert.equal(doubting.proxy.xds!.typeStatus("CDS").version, "", "nothing was accepted from a server it cannot verify");
  } finally {
    for (const p of proxies) await p.stop();
    await cp.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
