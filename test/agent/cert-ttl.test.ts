// SKIFF_CERT_TTL: the workload certificate's lifetime, which the runtime hands every proxy
// through its environment. Parsing (durations and plain seconds, clear refusals), and the
// agent asking the real CA service for that lifetime and rotating at its half life.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { X509Certificate } from "node:crypto";
import { MeshCa, RuntimeTokenIssuer, RuntimeTokenVerifier, startCaServer } from "../../src/ca/index.ts";
import { agentSettingsFromEnv, parseCertTtl, startWorkloadAgent, type Svid } from "../../src/agent/index.ts";

test("SKIFF_CERT_TTL takes durations or seconds and refuses what it cannot honour", () => {
  const cases: Array<[string, number]> = [["24h", 86_400], ["1h30m", 5_400], ["90s", 90], ["5m", 300], ["8", 8], [" 10s ", 10]];
  for (const [text, seconds] of cases) assert.equal(parseCertTtl(text), seconds, text);
  assert.throws(() => parseCertTtl("ten minutes"), /SKIFF_CERT_TTL="ten minutes" is not a duration; write e\.g\. 24h, 1h30m, 90s/);
  assert.throws(() => parseCertTtl("1.5h"), /is not a duration/);
  assert.throws(() => parseCertTtl("1s"), /shorter than 2s/);
});

test("the agent asks the CA for SKIFF_CERT_TTL and rotates at half of it", { timeout: 30_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "skiff-cert-ttl-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const ca = await MeshCa.selfSigned(join(dir, "ca"));
  const runtime = RuntimeTokenIssuer.generate();
  const server = await startCaServer({ port: 0, ca, tokenVerifier: new RuntimeTokenVerifier({ publicKeysPem: [runtime.publicKeyPem] }), log: () => {} });
  t.after(() => server.stop());
  const rootFile = join(dir, "root.pem");
  const tokenFile = join(dir, "token");
  writeFileSync(rootFile, ca.rootsPem());
  writeFileSync(tokenFile, await runtime.issue({ namespace: "demo", serviceAccount: "sa-logic" }));
  const env = { SKIFF_CA_ADDRESS: `127.0.0.1:${server.port}`, SKIFF_CA_ROOT_FILE: rootFile, SKIFF_TOKEN_FILE: tokenFile, SKIFF_CERT_TTL: "4s" };
  const settings = agentSettingsFromEnv(env, { namespace: "demo", serviceAccount: "sa-logic" });
  assert.equal(settings?.certTtlSeconds, 4);
  assert.throws(() => agentSettingsFromEnv({ ...env, SKIFF_CERT_TTL: "soon" }, { namespace: "demo", serviceAccount: "sa-logic" }), /SKIFF_CERT_TTL="soon" is not a duration/);

  const agent = await startWorkloadAgent({ ...settings!, socketPath: join(dir, "sds.sock"), log: () => {} });
  t.after(() => agent.stop());
  const svids: Svid[] = [];
  agent.certs.onUpdate((svid) => svids.push(svid));
  // The first certificate, then (at half life, 2 s) a second one: bounded wait.
  for (let i = 0; i < 100 && svids.length < 2; i++) await new Promise((r) => setTimeout(r, 100));
  assert.ok(svids.length >= 2, `expected a rotation, saw ${svids.length} certificate(s)`);
  const [first, second] = svids.map((s) => new X509Certificate(s.certChainPem));
  const lifetime = (c: X509Certificate): number => (Date.parse(c.validTo) - Date.parse(c.validFrom)) / 1000;
  assert.equal(lifetime(first!), 4);
  assert.notEqual(first!.serialNumber, second!.serialNumber);
});
