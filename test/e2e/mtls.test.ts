// Mesh mTLS in a real `skiff up` (process mode): the control plane serves xDS and the CA
// over TLS, the runtime hands each sidecar a service-account token, each sidecar's agent
// gets an SVID and serves it over SDS, and traffic between sidecars is mutual TLS: the
// server sidecar's inbound listener counts TLS handshakes, and `skiff proxy-config
// secret deploy/back` shows the workload's certificate with its SPIFFE ID. Every proxy fetches xDS from
// the same TLS port (Istio's 15012). The mesh runs on the user's
// own CA: Istio's cacerts files (made with openssl, a root and an intermediate) put in the
// run directory's ca/ before `skiff up`, so workload chains are leaf, intermediate, root.
import { test } from "node:test";
import assert from "node:assert/strict";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { eventually, startMesh } from "./helpers/mesh.ts";
import { writeShop } from "./helpers/shop.ts";
import { hasOpenssl, makeCacerts } from "../ca/helpers.ts";

const CACERTS = ["ca-cert.pem", "ca-key.pem", "root-cert.pem", "cert-chain.pem"];

function adminPortOf(runDir: string, prefix: string): number {
  const dir = join(runDir, "bootstrap");
  const file = readdirSync(dir).find((f) => f.startsWith(prefix));
  assert.ok(file, `no bootstrap for ${prefix} in ${dir}`);
  const b = JSON.parse(readFileSync(join(dir, file), "utf8")) as { admin: { address: { socket_address: { port_value: number } } } };
  return b.admin.address.socket_address.port_value;
}

async function inboundHandshakes(adminPort: number): Promise<number> {
  const stats = (await (await fetch(`http://127.0.0.1:${adminPort}/stats?format=json`, { signal: AbortSignal.timeout(5_000) })).json()) as { stats: Array<{ name: string; value: number }> };
  return stats.stats.filter((s) => /^listener\..*\.ssl\.handshake$/.test(s.name)).reduce((n, s) => n + s.value, 0);
}

test("skiff up: sidecars get SVIDs from the control plane's CA (the user's cacerts) and talk mutual TLS", { timeout: 120_000, skip: !hasOpenssl() && "openssl CLI not installed" }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "skiff-mtls-"));
  // The user's CA, where `skiff up` keeps its CA: <run dir>/ca (startMesh's run dir is dir/run).
  const userCa = await makeCacerts(join(dir, "user-ca"));
  mkdirSync(join(dir, "run", "ca"), { recursive: true });
  for (const f of CACERTS) copyFileSync(join(userCa, f), join(dir, "run", "ca", f));
  // front and back under service accounts sa-front and sa-back (their SPIFFE IDs), behind the gateway.
  const meshFile = writeShop(dir, { serviceAccounts: true, gateway: true });
  const { runDir, port: httpPort, skiff } = await startMesh(t, { dir, files: [meshFile] });

  const backAdmin = adminPortOf(runDir, "shop.back");
  const before = await inboundHandshakes(backAdmin);
  const r = await eventually(
    async () => {
      const res = await fetch(`http://127.0.0.1:${httpPort}/call-back`, { signal: AbortSignal.timeout(10_000) });
      return { status: res.status, body: await res.text() };
    },
    (v) => v.status === 200,
  );
  assert.equal(r.status, 200, r.body);
  assert.match(r.body, /^front -> hello from back/);
  assert.ok((await inboundHandshakes(backAdmin)) > before, "the request reached back's sidecar over TLS (its inbound listener counted a handshake)");

  // Named as an Istio user names it (istioctl proxy-config secret deploy/NAME): the run
  // directory's state records each sidecar's admin address, and back's one replica is the one.
  const state = JSON.parse(readFileSync(join(runDir, "state.json"), "utf8")) as { processes: Array<{ name: string; role: string; adminAddress?: string }> };
  assert.equal(state.processes.find((p) => p.role === "sidecar" && p.name === "back-0")?.adminAddress, `127.0.0.1:${backAdmin}`, "the state records back-0's admin address");
  const secret = await skiff("proxy-config", "secret", "deploy/back");
  assert.equal(secret.code, 0, secret.stderr);
  assert.match(secret.stdout, /^default\s+Cert Chain\s+ACTIVE\s+true\s+[0-9a-f]+\s+\S+\s+\S+\s+spiffe:\/\/cluster\.local\/ns\/shop\/sa\/sa-back$/m);
  assert.match(secret.stdout, /^ROOTCA\s+CA\s+ACTIVE\s+true/m);
  assert.match(secret.stdout, /^default\[0\]\s+serial [0-9a-f]+\s+subject ""\s+issuer "O=Istio, CN=Intermediate CA, L=cluster1"/m, "the leaf is signed by the user's intermediate");
  assert.match(secret.stdout, /^default\[1\]\s+serial [0-9a-f]+\s+subject "O=Istio, CN=Intermediate CA, L=cluster1"\s+issuer "O=Istio, CN=Root CA"/m, "the chain carries the intermediate, issued by the user's root");
  assert.match(secret.stdout, /^ROOTCA\[0\]\s+serial [0-9a-f]+\s+subject "O=Istio, CN=Root CA"/m, "the proxy trusts the user's root-cert.pem");

  // Every proxy took its configuration from the control plane's TLS port (15012), through
  // which the request above was routed; none from the plaintext one.
  const proxyLogs = readdirSync(join(runDir, "logs")).filter((f) => f.endsWith(".proxy.log"));
  assert.equal(proxyLogs.length, 3, `the gateway and two sidecars: ${proxyLogs.join(", ")}`);
  for (const f of proxyLogs) assert.match(readFileSync(join(runDir, "logs", f), "utf8"), /agent: xDS over TLS from 127\.0\.0\.1:\d+/, `${f} fetched xDS over TLS`);

  // The service-account tokens the runtime handed the sidecars outlive a long session (the
  // agent needs one for every rotation, and the runtime does not re-mint them).
  const tokens = readdirSync(join(runDir, "identity")).filter((f) => f.endsWith(".token"));
  assert.ok(tokens.length >= 2, `one token per sidecar: ${tokens.join(", ")}`);
  for (const f of tokens) {
    const payload = JSON.parse(Buffer.from(readFileSync(join(runDir, "identity", f), "utf8").split(".")[1], "base64url").toString("utf8")) as { exp: number; sub: string };
    assert.match(payload.sub, /^system:serviceaccount:(shop|istio-system):/);
    const daysLeft = (payload.exp * 1000 - Date.now()) / 86_400_000;
    assert.ok(daysLeft > 300, `${f} expires in ${daysLeft.toFixed(1)} days; a mesh left running would stop rotating then`);
  }
});
