// The demo IdP as a real process: the browser's login flow (authorization code + PKCE S256)
// driven over HTTP with a cookie-keeping client, and the access token checked against the
// IdP's own JWKS as the gateway's jwt_authn would.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import readline from "node:readline";
import { createRemoteJWKSet, jwtVerify, SignJWT, generateKeyPair } from "jose";

const ISSUER_PATH = "/idp";
const REDIRECT = "http://localhost:8080/";
let idp: ChildProcess;
let origin: string;
let issuer: string;
let tmp: string;

before(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "skiff-idp-test-"));
  // The issuer is what users see; the test reaches the same process on its real port,
  // which is how the gateway routes to it too (Host differs from the issuer's).
  issuer = "http://idp.example.test:8080/idp";
  idp = spawn(process.execPath, ["--import", "tsx", "samples/sentiment/idp/server.ts"], {
    cwd: path.resolve(import.meta.dirname, "../.."),
    env: { ...process.env, PORT: "0", HOST: "127.0.0.1", ISSUER: issuer, REDIRECT_URIS: REDIRECT, KEY_FILE: path.join(tmp, "key.json") },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const lines = readline.createInterface({ input: idp.stdout! });
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("IdP did not start in 20 s")), 20_000);
    idp.once("exit", (code) => reject(new Error(`IdP exited with ${code}`)));
    lines.on("line", (line) => {
      if (!line.startsWith("{")) return; // oidc-provider prints its own notices as text
      const entry = JSON.parse(line) as { msg?: string; port?: number };
      if (entry.msg === "listening") {
        clearTimeout(timer);
        resolve(entry.port!);
      }
    });
  });
  origin = `http://127.0.0.1:${port}`;
});

after(() => {
  idp.kill("SIGTERM");
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** A browser, reduced: keeps cookies per name, follows nothing on its own. */
class CookieClient {
  private jar = new Map<string, string>();
  async request(url: string, init: { method?: string; form?: Record<string, string> } = {}): Promise<Response> {
    const target = new URL(url, origin);
    const headers: Record<string, string> = {};
    if (this.jar.size > 0) headers.cookie = [...this.jar].map(([k, v]) => `${k}=${v}`).join("; ");
    let body: string | undefined;
    if (init.form) {
      body = new URLSearchParams(init.form).toString();
      headers["content-type"] = "application/x-www-form-urlencoded";
    }
    const res = await fetch(new URL(target.pathname + target.search, origin), { method: init.method ?? "GET", headers, body, redirect: "manual" });
    for (const cookie of res.headers.getSetCookie()) {
      const [pair] = cookie.split(";");
      const eq = pair!.indexOf("=");
      const value = pair!.slice(eq + 1);
      if (value === "" || /expires=Thu, 01 Jan 1970/i.test(cookie)) this.jar.delete(pair!.slice(0, eq));
      else this.jar.set(pair!.slice(0, eq), value);
    }
    return res;
  }
}

const base64url = (bytes: Buffer): string => bytes.toString("base64url");

async function discovery(): Promise<{ authorization_endpoint: string; token_endpoint: string; jwks_uri: string; issuer: string }> {
  const res = await fetch(`${origin}${ISSUER_PATH}/.well-known/openid-configuration`);
  assert.equal(res.status, 200);
  return (await res.json()) as never;
}

/** Starts the flow and returns the login form's action, with the client that holds the cookies. */
async function startLogin(): Promise<{ client: CookieClient; action: string; verifier: string; state: string }> {
  const meta = await discovery();
  const client = new CookieClient();
  const verifier = base64url(crypto.randomBytes(32));
  const challenge = base64url(crypto.createHash("sha256").update(verifier).digest());
  const state = base64url(crypto.randomBytes(12));
  const authorize = new URL(meta.authorization_endpoint);
  authorize.search = new URLSearchParams({
    client_id: "sa-frontend", response_type: "code", redirect_uri: REDIRECT, scope: "openid profile",
    code_challenge: challenge, code_challenge_method: "S256", state,
  }).toString();
  const first = await client.request(authorize.href);
  assert.equal(first.status, 303, await first.text());
  const loginUrl = first.headers.get("location")!;
  assert.match(loginUrl, /\/idp\/interaction\//);
  const form = await client.request(loginUrl);
  assert.equal(form.status, 200);
  const html = await form.text();
  const action = /<form method="post" action="([^"]+)"/.exec(html)?.[1];
  assert.ok(action, `no login form in ${html}`);
  return { client, action: action.replace(/&amp;/g, "&"), verifier, state };
}

async function logIn(username: string): Promise<{ access_token: string; id_token: string }> {
  const { client, action, verifier, state } = await startLogin();
  let res = await client.request(action, { method: "POST", form: { username, password: "password" } });
  // login → back to authorize (resume) → redirect to the frontend with the code; bounded.
  for (let hop = 0; hop < 5 && res.status >= 300 && res.status < 400; hop++) {
    const location = res.headers.get("location")!;
    if (location.startsWith(REDIRECT)) break;
    res = await client.request(location);
  }
  const callback = new URL(res.headers.get("location") ?? "", origin);
  assert.ok(callback.href.startsWith(REDIRECT), `expected a redirect to the frontend, got ${res.status} ${callback.href}`);
  assert.equal(callback.searchParams.get("state"), state);
  const code = callback.searchParams.get("code");
  assert.ok(code, `no code in ${callback.href}`);
  const meta = await discovery();
  const token = await fetch(new URL(new URL(meta.token_endpoint).pathname, origin), {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ grant_type: "authorization_code", code, redirect_uri: REDIRECT, client_id: "sa-frontend", code_verifier: verifier }),
  });
  const body = (await token.json()) as { access_token: string; id_token: string };
  assert.equal(token.status, 200, JSON.stringify(body));
  return body;
}

async function verify(accessToken: string): ReturnType<typeof jwtVerify> {
  const meta = await discovery();
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
  const { client, action } = await startLogin();
  const res = await client.request(action, { method: "POST", form: { username: "moderator", password: "wrong" } });
  assert.equal(res.status, 401);
  assert.equal(res.headers.get("location"), null);
  assert.match(await res.text(), /Wrong username or password/);
});

test("a token exchange without the PKCE verifier is refused", async () => {
  const { client, action } = await startLogin();
  let res = await client.request(action, { method: "POST", form: { username: "user", password: "password" } });
  for (let hop = 0; hop < 5 && !res.headers.get("location")?.startsWith(REDIRECT); hop++) res = await client.request(res.headers.get("location")!);
  const code = new URL(res.headers.get("location")!).searchParams.get("code")!;
  const token = await fetch(`${origin}${ISSUER_PATH}/token`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ grant_type: "authorization_code", code, redirect_uri: REDIRECT, client_id: "sa-frontend", code_verifier: base64url(crypto.randomBytes(32)) }),
  });
  assert.equal(token.status, 400);
  assert.equal(((await token.json()) as { error: string }).error, "invalid_grant");
});

test("a token signed by another key does not verify against the IdP's JWKS", async () => {
  const { privateKey } = await generateKeyPair("RS256");
  const forged = await new SignJWT({ group: "moderator" }).setProtectedHeader({ alg: "RS256" })
    .setIssuer(issuer).setAudience("sa-frontend").setSubject("moderator").setExpirationTime("1h").sign(privateKey);
  await assert.rejects(verify(forged));
});
