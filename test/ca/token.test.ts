import { test } from "node:test";
import assert from "node:assert/strict";
import { SignJWT } from "jose";
import { generateKeyPairSync } from "node:crypto";
import { CaError, RuntimeTokenIssuer, RuntimeTokenVerifier } from "../../src/ca/index.ts";
import { withTempDir } from "./helpers.ts";

test("the runtime key is kept in its directory so tokens survive a runtime restart", async () => {
  await withTempDir(async (dir) => {
    const first = await RuntimeTokenIssuer.loadOrCreate(dir);
    const again = await RuntimeTokenIssuer.loadOrCreate(dir);
    assert.equal(again.publicKeyPem, first.publicKeyPem);
    const verifier = new RuntimeTokenVerifier({ publicKeysPem: [first.publicKeyPem] });
    assert.equal((await verifier.verify(await again.issue({ namespace: "demo", serviceAccount: "web" }))).serviceAccount, "web");
  });
});

const unauthenticated = (pattern: RegExp) => (err: Error) => err instanceof CaError && err.kind === "unauthenticated" && pattern.test(err.message);

test("a runtime token proves its service account to a verifier trusting the runtime key", async () => {
  const issuer = RuntimeTokenIssuer.generate();
  const verifier = new RuntimeTokenVerifier({ publicKeysPem: [issuer.publicKeyPem] });
  const token = await issuer.issue({ namespace: "demo", serviceAccount: "sa-logic" });
  const [header, payload] = token.split(".").slice(0, 2).map((part) => JSON.parse(Buffer.from(part, "base64url").toString("utf8")));
  assert.equal(header.alg, "ES256");
  assert.equal(payload.iss, "skiff-runtime");
  assert.equal(payload.sub, "system:serviceaccount:demo:sa-logic");
  assert.deepEqual(payload.aud, ["skiff-ca"]);
  assert.equal(typeof payload.exp, "number");
  const identity = await verifier.verify(token);
  assert.deepEqual({ ...identity }, { namespace: "demo", serviceAccount: "sa-logic" });
});

test("a token signed by another key, expired, for another audience or issuer, or malformed is refused", async () => {
  const runtime = RuntimeTokenIssuer.generate();
  const now = Date.UTC(2026, 5, 1);
  const verifier = new RuntimeTokenVerifier({ publicKeysPem: [runtime.publicKeyPem], now: () => now });
  const id = { namespace: "demo", serviceAccount: "web" };

  const forged = await RuntimeTokenIssuer.generate().issue(id, { now });
  await assert.rejects(verifier.verify(forged), unauthenticated(/signature does not match/));

  const expired = await runtime.issue(id, { now: now - 7200_000, ttlSeconds: 3600 });
  await assert.rejects(verifier.verify(expired), unauthenticated(/expired/));

  // Vary one claim at a time, signed with a runtime key the verifier trusts.
  const { privateKey: key, publicKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
  const keyed = new RuntimeTokenVerifier({ publicKeysPem: [publicKey.export({ type: "spki", format: "pem" }).toString()], now: () => now });
  const sign = (claims: Record<string, unknown>) =>
    new SignJWT({ iss: "skiff-runtime", sub: "system:serviceaccount:demo:web", aud: ["skiff-ca"], exp: now / 1000 + 600, ...claims }).setProtectedHeader({ alg: "ES256" }).sign(key);
  assert.equal((await keyed.verify(await sign({}))).serviceAccount, "web", "the baseline token is accepted");
  await assert.rejects(keyed.verify(await sign({ aud: ["someone-else"] })), unauthenticated(/claim "aud"/));
  await assert.rejects(keyed.verify(await sign({ iss: "kubernetes" })), unauthenticated(/claim "iss"/));
  await assert.rejects(keyed.verify(await sign({ sub: "alice" })), unauthenticated(/system:serviceaccount/));
  await assert.rejects(keyed.verify(await sign({ sub: "system:serviceaccount:Demo!:web" })), unauthenticated(/system:serviceaccount/));
  await assert.rejects(keyed.verify("not.a.token"), unauthenticated(/well-formed/));
  await assert.rejects(keyed.verify(""), unauthenticated(/authorization: Bearer/));
});

test("several runtime keys may be trusted at once (a key change without downtime)", async () => {
  const oldKey = RuntimeTokenIssuer.generate();
  const newKey = RuntimeTokenIssuer.generate();
  const verifier = new RuntimeTokenVerifier({ publicKeysPem: [oldKey.publicKeyPem, newKey.publicKeyPem] });
  assert.equal((await verifier.verify(await oldKey.issue({ namespace: "a", serviceAccount: "x" }))).namespace, "a");
  assert.equal((await verifier.verify(await newKey.issue({ namespace: "b", serviceAccount: "y" }))).namespace, "b");
});
