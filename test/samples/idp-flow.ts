// The browser's side of the demo IdP's login, reduced to HTTP: authorization code flow with
// PKCE S256, a cookie-keeping client, the login form, the token exchange. Shared by the IdP's
// own test and the end-to-end test through the gateway.
import assert from "node:assert/strict";
import crypto from "node:crypto";

export const FRONTEND_REDIRECT = "http://localhost:8080/";

/** A browser, reduced: keeps cookies by name, follows no redirect on its own. */
export class CookieClient {
  private jar = new Map<string, string>();
  constructor(private readonly origin: string) {}

  async request(url: string, init: { method?: string; form?: Record<string, string> } = {}): Promise<Response> {
    // Every URL is sent to our origin: the IdP's links carry the Host we came in with, but
    // the issuer may name another (the gateway's public name).
    const target = new URL(url, this.origin);
    const headers: Record<string, string> = {};
    if (this.jar.size > 0) headers.cookie = [...this.jar].map(([k, v]) => `${k}=${v}`).join("; ");
    let body: string | undefined;
    if (init.form) {
      body = new URLSearchParams(init.form).toString();
      headers["content-type"] = "application/x-www-form-urlencoded";
    }
    const res = await fetch(new URL(target.pathname + target.search, this.origin), {
      method: init.method ?? "GET", headers, body, redirect: "manual", signal: AbortSignal.timeout(10_000),
    });
    for (const cookie of res.headers.getSetCookie()) {
      const pair = cookie.split(";")[0] ?? "";
      const eq = pair.indexOf("=");
      const value = pair.slice(eq + 1);
      if (value === "" || /expires=Thu, 01 Jan 1970/i.test(cookie)) this.jar.delete(pair.slice(0, eq));
      else this.jar.set(pair.slice(0, eq), value);
    }
    return res;
  }
}

export interface Discovery { issuer: string; authorization_endpoint: string; token_endpoint: string; jwks_uri: string }

export async function discovery(origin: string, issuerPath = "/idp"): Promise<Discovery> {
  const res = await fetch(`${origin}${issuerPath}/.well-known/openid-configuration`, { signal: AbortSignal.timeout(10_000) });
  assert.equal(res.status, 200, `discovery at ${origin}${issuerPath}`);
  return (await res.json()) as Discovery;
}

export interface PendingLogin { client: CookieClient; action: string; verifier: string; state: string }

/** GET authorize with PKCE → the login form; returns its action and the client with the cookies. */
export async function startLogin(origin: string): Promise<PendingLogin> {
  const meta = await discovery(origin);
  const client = new CookieClient(origin);
  const verifier = crypto.randomBytes(32).toString("base64url");
  const challenge = crypto.createHash("sha256").update(verifier).digest("base64url");
  const state = crypto.randomBytes(12).toString("base64url");
  const authorize = new URL(meta.authorization_endpoint);
  authorize.search = new URLSearchParams({
    client_id: "sa-frontend", response_type: "code", redirect_uri: FRONTEND_REDIRECT, scope: "openid profile",
    code_challenge: challenge, code_challenge_method: "S256", state,
  }).toString();
  const first = await client.request(authorize.href);
  assert.equal(first.status, 303, await first.text());
  const loginUrl = first.headers.get("location") ?? "";
  assert.match(loginUrl, /\/idp\/interaction\//);
  const form = await client.request(loginUrl);
  assert.equal(form.status, 200);
  const html = await form.text();
  const action = /<form method="post" action="([^"]+)"/.exec(html)?.[1];
  assert.ok(action, `no login form in ${html}`);
  return { client, action: action.replace(/&amp;/g, "&"), verifier, state };
}

/** Posts the credentials and follows the IdP's redirects (bounded) to the frontend's; returns the code. */
export async function submitLogin(pending: PendingLogin, username: string, password: string): Promise<string> {
  let res = await pending.client.request(pending.action, { method: "POST", form: { username, password } });
  for (let hop = 0; hop < 5 && res.status >= 300 && res.status < 400; hop++) {
    const location = res.headers.get("location") ?? "";
    if (location.startsWith(FRONTEND_REDIRECT)) break;
    res = await pending.client.request(location);
  }
  const callback = new URL(res.headers.get("location") ?? "about:blank");
  assert.ok(callback.href.startsWith(FRONTEND_REDIRECT), `expected a redirect to the frontend, got ${res.status} ${callback.href}`);
  assert.equal(callback.searchParams.get("state"), pending.state);
  const code = callback.searchParams.get("code");
  assert.ok(code, `no code in ${callback.href}`);
  return code;
}

export async function exchangeCode(origin: string, code: string, verifier: string): Promise<Response> {
  return fetch(`${origin}/idp/token`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ grant_type: "authorization_code", code, redirect_uri: FRONTEND_REDIRECT, client_id: "sa-frontend", code_verifier: verifier }),
    signal: AbortSignal.timeout(10_000),
  });
}

/** The whole login; returns the token response. */
export async function logIn(origin: string, username: string): Promise<{ access_token: string; id_token: string }> {
  const pending = await startLogin(origin);
  const code = await submitLogin(pending, username, "password");
  const token = await exchangeCode(origin, code, pending.verifier);
  const body = (await token.json()) as { access_token: string; id_token: string };
  assert.equal(token.status, 200, JSON.stringify(body));
  return body;
}
