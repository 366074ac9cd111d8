// The demo's security walk-through end to end, in process mode: `skiff up` with the demo and
// the IdP, the ingress routes, then the JWT and access policies at the gateway; tokens come
// from the IdP through its real login flow, through the gateway as a browser gets them.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { generateKeyPair, SignJWT } from "jose";
import { eventually, startMesh } from "../e2e/helpers/mesh.ts";
import { logIn } from "./idp-flow.ts";

const SAMPLES = fileURLToPath(new URL("../../samples/sentiment/", import.meta.url));
const ISTIO = join(SAMPLES, "istio");
const SECURITY = join(ISTIO, "security");

async function call(port: number, path: string, token?: string, body?: unknown): Promise<{ status: number; body: string }> {
  const headers: Record<string, string> = {};
  if (token !== undefined) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers["content-type"] = "application/json";
  const res = await fetch(`http://127.0.0.1:${port}${path}`, {
    method: body === undefined ? "GET" : "POST", headers,
    body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(10_000),
  });
  return { status: res.status, body: await res.text() };
}

const SENTENCE = { sentence: "I love this wonderful day" };

test("security walk-through: JWT and policies at the gateway with tokens from the demo IdP", { timeout: 240_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "skiff-idp-e2e-"));
  const { port, skiff } = await startMesh(t, {
    dir,
    files: [join(SAMPLES, "mesh.yaml"), join(SAMPLES, "idp.yaml")],
    args: ["--no-trace-store", "--wait", "120"],
    env: { DATA_DIR: join(dir, "feedback"), KEY_FILE: join(dir, "idp-key.json") },
  });

  const routes = await skiff("apply", "-f", join(ISTIO, "http-gateway.yaml"), "-f", join(ISTIO, "vs-route-ingress.yaml"));
  assert.equal(routes.code, 0, routes.stderr);
  // idp.yaml's VirtualService came with `skiff up`; the login works through the gateway.
  await eventually(() => call(port, "/idp/.well-known/openid-configuration"), (r) => r.status === 200);
  const origin = `http://127.0.0.1:${port}`;
  const user = (await logIn(origin, "user")).access_token;
  const moderator = (await logIn(origin, "moderator")).access_token;

  // The sample as it is: its jwksUri is the IdP's mesh name, fetched through the gateway's
  // outbound cluster for it (mutual TLS to the IdP's sidecar), whatever port the gateway has.
  const requestAuth = join(SECURITY, "request-authentication.yaml");
  const policies = ["allow-view.yaml", "allow-login.yaml", "allow-analysis.yaml", "allow-feedback.yaml"].map((f) => join(SECURITY, f));
  const applied = await skiff("apply", ...[requestAuth, ...policies].flatMap((f) => ["-f", f]));
  assert.equal(applied.code, 0, applied.stderr);
  // Policies are in force once a tokenless /sentiment is refused.
  const none = await eventually(() => call(port, "/sentiment", undefined, SENTENCE), (r) => r.status === 403);
  assert.equal(none.status, 403, `no token: ${none.body}`);

  await t.test("/ and /static are open to everyone", async () => {
    assert.equal((await call(port, "/")).status, 200);
    assert.equal((await call(port, "/static/style.css")).status, 200);
    assert.equal((await call(port, "/logo.png")).status, 200);
  });

  await t.test("/sentiment: 200 with a real token, 401 with a forged one", async () => {
    // The first verified request may wait for the gateway's JWKS fetch through the mesh.
    const ok = await eventually(() => call(port, "/sentiment", user, SENTENCE), (r) => r.status === 200, 50);
    assert.equal(ok.status, 200, ok.body);
    assert.ok((JSON.parse(ok.body) as { polarity: number }).polarity > 0);
    const { privateKey } = await generateKeyPair("RS256");
    const forged = await new SignJWT({ group: "moderator" }).setProtectedHeader({ alg: "RS256" })
      .setIssuer("http://localhost:8080/idp").setAudience("sa-frontend").setSubject("moderator").setExpirationTime("1h").sign(privateKey);
    assert.equal((await call(port, "/sentiment", forged, SENTENCE)).status, 401);
  });

  await t.test("/feedback: 403 for user, 201 for moderator", async () => {
    const feedback = { sentence: "I love this wonderful day", polarity: 0.9, correct: true };
    const denied = await call(port, "/feedback", user, feedback);
    assert.equal(denied.status, 403, denied.body);
    const allowed = await call(port, "/feedback", moderator, feedback);
    assert.equal(allowed.status, 201, allowed.body);
  });

  await t.test("STRICT mTLS and least privilege: an outsider is refused by sa-logic, the app still works", async () => {
    // sa-logic's inbound side (its sidecar), as an uninjected client on this machine sees it.
    const status = await skiff("status", "-o", "json");
    assert.equal(status.code, 0, status.stderr);
    const replicas = (JSON.parse(status.stdout) as { replicas: { workload: string; address?: string; app: { ports: { port: number; inboundPort?: number }[] } }[] }).replicas;
    const logic = replicas.find((r) => r.workload === "sa-logic");
    assert.ok(logic, status.stdout);
    const [logicPort] = logic.app.ports;
    const direct = async (): Promise<number | string> => {
      try {
        const res = await fetch(`http://${logic.address ?? "127.0.0.1"}:${logicPort!.inboundPort ?? logicPort!.port}/analyse/sentiment`, {
          method: "POST", body: JSON.stringify(SENTENCE), headers: { host: "sa-logic" }, signal: AbortSignal.timeout(5_000),
        });
        await res.text();
        return res.status;
      } catch (err) {
        return `refused: ${(err as Error).message}`;
      }
    };
    assert.equal(await direct(), 200, "before the policies an outsider is answered (PERMISSIVE, no ALLOW policy)");

    const strict = await skiff("apply", "-f", join(SECURITY, "peer-authentication.yaml"), "-f", join(SECURITY, "service-to-service.yaml"));
    assert.equal(strict.code, 0, strict.stderr);
    const refused = await eventually(direct, (r) => r !== 200);
    assert.notEqual(refused, 200, "plaintext from outside the mesh reaches sa-logic after STRICT + least privilege");

    // In force, and the mesh's own calls carry the identities the policies name.
    assert.equal((await call(port, "/")).status, 200);
    const analysed = await eventually(() => call(port, "/sentiment", user, SENTENCE), (r) => r.status === 200, 25);
    assert.equal(analysed.status, 200, analysed.body);
    const fed = await call(port, "/feedback", moderator, { sentence: "fine", polarity: 0.1, correct: true });
    assert.equal(fed.status, 201, fed.body);
    assert.equal((await call(port, "/idp/.well-known/openid-configuration")).status, 200);
  });
});
