// The demo IdP as a real process: the browser's login flow (authorization code + PKCE S256)
// driven over HTTP with a cookie-keeping client, and the access token checked against the
// IdP's own JWKS as the gateway's jwt_authn would.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import { createRemoteJWKSet, jwtVerify, SignJWT, generateKeyPair } from "jose";
import { discovery, exchangeCode, FRONTEND_REDIRECT, logIn as logInAt, startLogin, submitLogin } from "./idp-flow.ts";
import { startIdp, type RunningIdp } from "./idp-process.ts";

const REDIRECT = FRONTEND_REDIRECT;
let idp: RunningIdp;
let origin: string;
let issuer: string;

before(async () => {
  // The issuer is what users see; the test reaches the same process on its real port,
  // which is how the gateway routes to it too (Host differs from the issuer's).
  issuer = "http://idp.example.test:8080/idp";
  idp = await startIdp({ issuer, redirectUris: REDIRECT });
  origin = idp.origin;
});

after(() => idp.stop());

const logIn = (username: string) => logInAt(origin, username);

async function verify(accessToken: string): ReturnType<typeof jwtVerify> {
  const meta = await discovery(origin);
  assert.equal(meta.issuer, issuer);
  const jwks = createRemoteJWKSet(new URL(new URL(meta.jwks_uri).pathname, origin));
  return jwtVerify(accessToken, jwks, { issuer, audience: "sa-frontend" });
}

test("user logs in with code + PKCE and gets a JWT access token with group users / usertype regular", async () => {
  const { access_token } = await logIn("user");
  const { payload, protectedHeader } = await verify(access_token);
  assert.equal(protectedHeader.alg, "RS256");
  assert.equal(payload.sub, "user");
  assert.equal(payload.group, "users");
  assert.equal(payload.usertype, "regular");
});

test("moderator's token says group moderator; beta's says usertype beta", async () => {
  const moderator = await verify((await logIn("moderator")).access_token);
  assert.equal(moderator.payload.sub, "moderator");
  assert.equal(moderator.payload.group, "moderator");
  const beta = await verify((await logIn("beta")).access_token);
  assert.equal(beta.payload.group, "users");
  assert.equal(beta.payload.usertype, "beta");
});

test("a wrong password is refused with the form again and no redirect", async () => {
  const { client, action } = await startLogin(origin);
  const res = await client.request(action, { method: "POST", form: { username: "moderator", password: "wrong" } });
  assert.equal(res.status, 401);
  assert.equal(res.headers.get("location"), null);
  assert.match(await res.text(), /Wrong username or password/);
});

test("a token exchange without the PKCE verifier is refused", async () => {
  const pending = await startLogin(origin);
  const code = await submitLogin(pending, "user", "password");
  const token = await exchangeCode(origin, code, crypto.randomBytes(32).toString("base64url"));
  assert.equal(token.status, 400);
  assert.equal(((await token.json()) as { error: string }).error, "invalid_grant");
});

test("a token signed by another key does not verify against the IdP's JWKS", async () => {
  const { privateKey } = await generateKeyPair("RS256");
  const forged = await new SignJWT({ group: "moderator" }).setProtectedHeader({ alg: "RS256" })
    .setIssuer(issuer).setAudience("sa-frontend").setSubject("moderator").setExpirationTime("1h").sign(privateKey);
  await assert.rejects(verify(forged));
});
