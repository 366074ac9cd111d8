// The frontend's own login code (sa-frontend/static/auth.js) and the page's API calls
// (app.js), run as a browser would run them, against the demo IdP as a real process. No
// headless browser: the two scripts run on a small stand-in for the page (the elements
// they use, location, history, sessionStorage) with Node's own fetch and WebCrypto. The
// IdP's login form, which a user would fill in, is driven over HTTP (idp-flow.ts).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import { createRemoteJWKSet, jwtVerify } from "jose";
import { CookieClient, submitLogin } from "./idp-flow.ts";
import { startIdp, type RunningIdp } from "./idp-process.ts";

const PAGE_ORIGIN = "http://localhost:8080";
const ISSUER = `${PAGE_ORIGIN}/idp`;
const STATIC = path.resolve(import.meta.dirname, "../../samples/sentiment/sa-frontend/static");
let idp: RunningIdp;
let idpOrigin: string;

before(async () => {
  idp = await startIdp({ issuer: ISSUER, redirectUris: `${PAGE_ORIGIN}/` });
  idpOrigin = idp.origin;
});

after(() => idp.stop());

/** The parts of a DOM element the two scripts touch. */
class FakeElement {
  textContent = "";
  hidden = false;
  disabled = false;
  value = "";
  dataset: Record<string, string> = {};
  readonly classes = new Set<string>();
  readonly listeners = new Map<string, (event: unknown) => unknown>();
  readonly classList = {
    add: (c: string) => this.classes.add(c),
    toggle: (c: string, on: boolean) => (on ? this.classes.add(c) : this.classes.delete(c)),
  };
  addEventListener(type: string, fn: (event: unknown) => unknown): void {
    this.listeners.set(type, fn);
  }
  querySelector(): FakeElement {
    return new FakeElement();
  }
  querySelectorAll(): FakeElement[] {
    return [];
  }
}

interface ApiCall {
  path: string;
  headers: Record<string, string>;
}

/** A request to the IdP process with the Host the browser used (fetch cannot set Host). */
function toIdp(target: URL, host: string, init: RequestInit): Promise<Response> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      new URL(target.pathname + target.search, idpOrigin),
      { method: init.method ?? "GET", headers: { ...(init.headers as Record<string, string>), host }, timeout: 10_000 },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const headers = Object.entries(res.headers).flatMap(([k, v]) => (Array.isArray(v) ? v.map((x): [string, string] => [k, x]) : v === undefined ? [] : [[k, v] as [string, string]]));
          resolve(new Response(Buffer.concat(chunks), { status: res.statusCode, headers }));
        });
      },
    );
    req.on("timeout", () => req.destroy(new Error("the IdP did not answer in 10 s")));
    req.on("error", reject);
    req.end(init.body === undefined || init.body === null ? undefined : String(init.body));
  });
}

/** One page load of index.html at `url`, sharing `storage` with earlier loads (one tab). */
function loadPage(url: string, storage: Map<string, string>) {
  const elements = new Map<string, FakeElement>();
  const element = (id: string): FakeElement => elements.get(id) ?? elements.set(id, new FakeElement()).get(id)!;
  const page = new URL(url);
  const assigned: string[] = [];
  const replaced: string[] = [];
  const apiCalls: ApiCall[] = [];
  const location = {
    origin: page.origin,
    pathname: page.pathname,
    search: page.search,
    assign: (to: string) => assigned.push(to),
  };
  const history = { replaceState: (_s: unknown, _t: string, to: string) => replaced.push(to) };
  const sessionStorage = {
    getItem: (k: string) => storage.get(k) ?? null,
    setItem: (k: string, v: string) => storage.set(k, String(v)),
    removeItem: (k: string) => storage.delete(k),
  };
  // The page's origin is the gateway: /idp goes to the IdP process, /sentiment is answered here.
  const fetchFromPage = async (input: string, init: RequestInit = {}): Promise<Response> => {
    const target = new URL(input, page.origin);
    // With the page's Host, as through the gateway: the IdP's links are built from it.
    if (target.pathname.startsWith("/idp")) return toIdp(target, page.host, init);
    apiCalls.push({ path: target.pathname, headers: { ...(init.headers as Record<string, string>) } });
    return new Response(JSON.stringify({ sentence: "hi", polarity: 0.8, version: "v1" }), { headers: { "content-type": "application/json" } });
  };
  const window: Record<string, unknown> = {};
  const document = { getElementById: element };
  for (const script of ["auth.js", "app.js"]) {
    const code = fs.readFileSync(path.join(STATIC, script), "utf8");
    // The page's globals shadow Node's; fetch, crypto, TextEncoder, atob... are Node's own.
    new Function("document", "window", "location", "history", "sessionStorage", "fetch", code)(document, window, location, history, sessionStorage, fetchFromPage);
  }
  return { element, assigned, replaced, apiCalls, window };
}

async function until(what: string, check: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 50));
  assert.ok(check(), `timed out waiting for ${what}`);
}

test("the page logs the user in with code + PKCE (S256) and sends the IdP's token with its API calls", async () => {
  const tab = new Map<string, string>();
  const first = loadPage(`${PAGE_ORIGIN}/`, tab);
  assert.equal(first.element("who").textContent, "not signed in");
  assert.equal(first.element("login").hidden, false);
  assert.equal(first.element("logout").hidden, true);

  // "Log in": the page goes to the IdP's authorize endpoint with an S256 challenge of the
  // verifier it keeps, and a state.
  first.element("login").listeners.get("click")!({});
  await until("the redirect to the IdP", () => first.assigned.length === 1);
  const authorize = new URL(first.assigned[0]);
  assert.equal(authorize.origin + authorize.pathname, `${ISSUER}/auth`);
  const pending = JSON.parse(tab.get("skiff.auth.pending")!) as { verifier: string; state: string };
  assert.equal(authorize.searchParams.get("code_challenge_method"), "S256");
  assert.equal(authorize.searchParams.get("code_challenge"), crypto.createHash("sha256").update(pending.verifier).digest("base64url"));
  assert.equal(authorize.searchParams.get("state"), pending.state);
  assert.equal(authorize.searchParams.get("client_id"), "sa-frontend");
  assert.equal(authorize.searchParams.get("redirect_uri"), `${PAGE_ORIGIN}/`);

  // The user signs in on the IdP's form; the IdP sends the browser back with a code.
  const client = new CookieClient(idpOrigin);
  const toForm = await client.request(authorize.href);
  assert.equal(toForm.status, 303, await toForm.text());
  const form = await (await client.request(toForm.headers.get("location") ?? "")).text();
  const action = /<form method="post" action="([^"]+)"/.exec(form)?.[1]?.replace(/&amp;/g, "&");
  assert.ok(action, form);
  const code = await submitLogin({ client, action, verifier: pending.verifier, state: pending.state }, "user", "password");

  // Back on the page with ?code&state: it exchanges the code (with its verifier), keeps the
  // token, removes the code from the address bar and shows who is signed in.
  const back = loadPage(`${PAGE_ORIGIN}/?code=${encodeURIComponent(code)}&state=${encodeURIComponent(pending.state)}`, tab);
  await until("the sign-in", () => back.element("who").textContent !== "");
  assert.equal(back.element("message").textContent, "", "no error shown");
  assert.equal(back.element("who").textContent, "user (group users)");
  assert.deepEqual(back.replaced, ["/"], "the code is removed from the address bar");
  assert.equal(tab.has("skiff.auth.pending"), false);
  assert.equal(back.element("login").hidden, true);
  assert.equal(back.element("logout").hidden, false);

  // Analysing a sentence sends the access token, which the gateway verifies against the IdP's keys.
  back.element("sentence").value = "what a lovely day";
  back.element("analyse").listeners.get("submit")!({ preventDefault: () => {} });
  await until("the /sentiment call", () => back.apiCalls.length === 1);
  const call = back.apiCalls[0];
  assert.equal(call.path, "/sentiment");
  const bearer = /^Bearer (.+)$/.exec(call.headers.authorization ?? "")?.[1];
  assert.ok(bearer, `no bearer token in ${JSON.stringify(call.headers)}`);
  const jwks = createRemoteJWKSet(new URL("/idp/jwks", idpOrigin));
  const { payload } = await jwtVerify(bearer, jwks, { issuer: ISSUER, audience: "sa-frontend" });
  assert.equal(payload.sub, "user");
  assert.equal(payload.group, "users");
});

test("an answer whose state the page did not ask for is refused, and no token is kept", async () => {
  const tab = new Map<string, string>();
  const first = loadPage(`${PAGE_ORIGIN}/`, tab);
  first.element("login").listeners.get("click")!({});
  await until("the redirect to the IdP", () => first.assigned.length === 1);
  const page = loadPage(`${PAGE_ORIGIN}/?code=stolen&state=not-ours`, tab);
  await until("the refusal", () => page.element("message").textContent !== "");
  assert.match(page.element("message").textContent, /does not match the request \(state\)/);
  assert.equal(page.element("who").textContent, "not signed in");
  assert.equal(tab.has("skiff.auth"), false);
  assert.deepEqual((page.window.skiffAuth as { authHeaders(): Record<string, string> }).authHeaders(), {}, "API calls go without a token");
});
