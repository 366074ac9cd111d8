// jwt_authn in a real proxy configured over xDS, with keys generated here (RS256, ES256):
// valid, expired, not yet valid, wrong issuer, wrong audience, forged, malformed and
// missing tokens; header prefix, query parameter, forward/strip, payload and claim
// headers; the payload in dynamic metadata read by RBAC (Istio's requestPrincipals and
// request.auth.claims, nested and list claims); rules, per-route config; remote JWKS
// from a node:http server on 127.0.0.1 (cache, rotation, fetch failure).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey, type JWK, type JWTPayload } from "jose";
import { TestAdsServer } from "../helpers/ads-server.ts";
import { httpListener, request, routeConfig, serve, startProxy, startUpstream, staticCluster, vhost, type Json, type RunningProxy, type Upstream } from "../helpers/fixtures.ts";

const JWT = "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication";
const JWT_PER_ROUTE = "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.PerRouteConfig";
const RBAC = "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC";
const ISSUER = "https://idp.test";
const OTHER = "https://other.test";
const REMOTE = "https://remote.test";

interface Signer {
  key: CryptoKey;
  alg: string;
  kid: string;
  pub: JWK;
}

async function signer(alg: "RS256" | "ES256", kid: string): Promise<Signer> {
  const { privateKey, publicKey } = await generateKeyPair(alg);
  return { key: privateKey, alg, kid, pub: { ...(await exportJWK(publicKey)), kid, alg, use: "sig" } };
}

const now = (): number => Math.floor(Date.now() / 1000);

/** A signed token; `claims` override the defaults (iss, sub, aud, exp in 5 min). */
function token(s: Signer, claims: JWTPayload = {}, kid = s.kid): Promise<string> {
  return new SignJWT({ iss: ISSUER, sub: "alice", aud: "sentiment", exp: now() + 300, iat: now(), ...claims }).setProtectedHeader({ alg: s.alg, kid }).sign(s.key);
}

let ads: TestAdsServer;
let proxy: RunningProxy;
let upstream: Upstream;
let rs: Signer;
let es: Signer;
let attacker: Signer;
let rotA: Signer;
let rotB: Signer;
let jwksServer: http.Server;
const jwksHits = new Map<string, number>();
let rotatingKeys: JWK[] = [];

const meta = (filter: string, keys: string[], value: Json): Json => ({ metadata: { filter, path: keys.map((key) => ({ key })), value } });
const listOf = (exact: string): Json => ({ list_match: { one_of: { string_match: { exact } } } });
const allowPath = (prefix: string, principal: Json): Json => ({ permissions: [{ url_path: { path: { prefix } } }], principals: [principal] });

before(async () => {
  // RSA key generation is slow: generate in parallel (libuv's pool), and only two RSA keys.
  [rs, es, attacker, rotA, rotB] = await Promise.all([signer("RS256", "rs-1"), signer("ES256", "es-1"), signer("RS256", "rs-1"), signer("ES256", "rot-a"), signer("ES256", "rot-b")]);
  rotatingKeys = [rotA.pub];
  jwksServer = http.createServer((req, res) => {
    jwksHits.set(req.url ?? "", (jwksHits.get(req.url ?? "") ?? 0) + 1);
    if (req.url === "/jwks") res.end(JSON.stringify({ keys: [rs.pub] }));
    else if (req.url === "/rotating") res.end(JSON.stringify({ keys: rotatingKeys }));
    else {
      res.writeHead(500);
      res.end("boom");
    }
  });
  await new Promise<void>((r) => jwksServer.listen(0, "127.0.0.1", r));
  const jwksBase = `http://127.0.0.1:${(jwksServer.address() as AddressInfo).port}`;

  ads = new TestAdsServer();
  await ads.start();
  upstream = await startUpstream(undefined, "app");
  proxy = await startProxy(ads);
  const localJwks = (keys: JWK[]): Json => ({ inline_string: JSON.stringify({ keys }) });
  const allRoutes = (name: string, extraRoutes: Json[] = []): Json => routeConfig(name, [vhost("all", ["*"], [...extraRoutes, { match: { prefix: "/" }, route: { cluster: "app" } }])]);

  // Istio's RequestAuthentication shape, then an AuthorizationPolicy-like ALLOW filter.
  const istio = httpListener("istio", {
    routeConfig: allRoutes("istio"),
    filters: [
      {
        name: "envoy.filters.http.jwt_authn",
        typed_config: {
          "@type": JWT,
          providers: {
            "origins-0": {
              issuer: ISSUER,
              audiences: ["sentiment"],
              local_jwks: localJwks([rs.pub, es.pub]),
              payload_in_metadata: ISSUER,
              forward_payload_header: "x-jwt-payload",
              claim_to_headers: [{ header_name: "x-group", claim_name: "group" }],
            },
            "origins-1": {
              issuer: OTHER,
              local_jwks: localJwks([rs.pub]),
              from_headers: [{ name: "x-token", value_prefix: "Token " }],
              from_params: ["tok"],
              forward: true,
              payload_in_metadata: OTHER,
            },
          },
          rules: [{ match: { prefix: "/" }, requires: { requires_any: { requirements: [{ provider_name: "origins-0" }, { provider_name: "origins-1" }, { allow_missing: {} }] } } }],
          bypass_cors_preflight: true,
        },
      },
      {
        name: "envoy.filters.http.rbac",
        typed_config: {
          "@type": RBAC,
          rules: {
            action: "ALLOW",
            policies: {
              open: { permissions: [{ url_path: { path: { prefix: "/open" } } }], principals: [{ any: true }] },
              "request-principal": allowPath("/who", meta("istio_authn", ["request.auth.principal"], { string_match: { exact: `${ISSUER}/alice` } })),
              "any-request-principal": allowPath("/authn", meta("istio_authn", ["request.auth.principal"], { present_match: true })),
              moderators: allowPath("/admin", meta("istio_authn", ["request.auth.claims", "group"], listOf("moderator"))),
              nested: allowPath("/nested", meta("istio_authn", ["request.auth.claims", "realm", "role"], listOf("boss"))),
              audiences: allowPath("/aud", meta("istio_authn", ["request.auth.audiences"], listOf("sentiment"))),
              presenter: allowPath("/azp", meta("istio_authn", ["request.auth.presenter"], { string_match: { exact: "frontend" } })),
              "envoy-metadata": allowPath("/envoy", meta("envoy.filters.http.jwt_authn", [ISSUER, "sub"], { string_match: { exact: "alice" } })),
            },
          },
        },
      },
    ],
  });

  const strict = httpListener("strict", {
    routeConfig: allRoutes("strict", [
      { match: { prefix: "/disabled" }, route: { cluster: "app" }, typed_per_filter_config: { "envoy.filters.http.jwt_authn": { "@type": JWT_PER_ROUTE, disabled: true } } },
      { match: { prefix: "/named" }, route: { cluster: "app" }, typed_per_filter_config: { "envoy.filters.http.jwt_authn": { "@type": JWT_PER_ROUTE, requirement_name: "other-only" } } },
    ]),
    filters: [
      {
        name: "envoy.filters.http.jwt_authn",
        typed_config: {
          "@type": JWT,
          providers: {
            p: { issuer: ISSUER, local_jwks: localJwks([rs.pub]), forward: true },
            q: { issuer: OTHER, local_jwks: localJwks([rs.pub]) },
          },
          requirement_map: { "other-only": { provider_name: "q" } },
          rules: [
            { match: { prefix: "/public" } },
            { match: { path: "/either" }, requires: { requires_any: { requirements: [{ provider_name: "p" }, { provider_name: "q" }] } } },
            { match: { prefix: "/both" }, requires: { requires_all: { requirements: [{ provider_name: "p" }, { provider_and_audiences: { provider_name: "p", audiences: ["sentiment"] } }] } } },
            { match: { prefix: "/lenient" }, requires: { allow_missing_or_failed: {} } },
            { match: { prefix: "/" }, requires: { provider_name: "p" } },
          ],
        },
      },
    ],
  });

  const remoteProvider = (path: string, cache: string): Json => ({
    issuer: REMOTE,
    remote_jwks: { http_uri: { uri: `${jwksBase}${path}`, cluster: "jwks|127.0.0.1", timeout: "2s" }, cache_duration: cache },
  });
  const remote = httpListener("remote", {
    routeConfig: allRoutes("remote"),
    filters: [
      {
        name: "envoy.filters.http.jwt_authn",
        typed_config: {
          "@type": JWT,
          providers: { good: remoteProvider("/jwks", "600s"), rotating: remoteProvider("/rotating", "0s"), broken: remoteProvider("/broken", "600s") },
          rules: ["good", "rotating", "broken"].map((p) => ({ match: { prefix: `/${p}` }, requires: { provider_name: p } })),
        },
      },
    ],
  });

  // The remote providers' http_uri.cluster: the fetch goes through it (jwt-jwks-cluster.test.ts covers more).
  const jwksCluster = staticCluster("jwks|127.0.0.1", [(jwksServer.address() as AddressInfo).port]);
  await serve(ads, proxy, { clusters: [staticCluster("app", [upstream.port]), jwksCluster], listeners: [istio, strict, remote] });
});

after(async () => {
  await proxy.stop();
  await ads.stop();
  await upstream.close();
  await new Promise<void>((r) => jwksServer.close(() => r()));
});

const bearer = (t: string): Record<string, string> => ({ authorization: `Bearer ${t}` });

/** The request the app received last, as the echo upstream reports it. */
function lastSeen(): { url: string; headers: http.IncomingHttpHeaders } {
  const r = upstream.requests[upstream.requests.length - 1];
  return { url: r.url, headers: r.headers };
}

test("token verdicts (Istio shape: any provider or no token at all)", async () => {
  const port = proxy.port("istio");
  const cases: Array<[string, () => Promise<Record<string, string>>, number, string | undefined]> = [
    ["no token passes unauthenticated", async () => ({}), 200, undefined],
    ["valid RS256", async () => bearer(await token(rs)), 200, undefined],
    ["valid ES256", async () => bearer(await token(es)), 200, undefined],
    ["lower-case bearer prefix", async () => ({ authorization: `bearer ${await token(rs)}` }), 200, undefined],
    ["expired", async () => bearer(await token(rs, { exp: now() - 120 })), 401, "Jwt is expired"],
    ["expired within the 60 s clock skew", async () => bearer(await token(rs, { exp: now() - 20 })), 200, undefined],
    ["not yet valid", async () => bearer(await token(rs, { nbf: now() + 600 })), 401, "Jwt not yet valid"],
    ["nbf within the clock skew", async () => bearer(await token(rs, { nbf: now() + 20 })), 200, undefined],
    ["wrong issuer", async () => bearer(await token(rs, { iss: "https://evil.test" })), 401, "Jwt issuer is not configured"],
    ["wrong audience", async () => bearer(await token(rs, { aud: "billing" })), 403, "Audiences in Jwt are not allowed"],
    ["one of several audiences", async () => bearer(await token(rs, { aud: ["billing", "sentiment"] })), 200, undefined],
    ["forged signature (same kid, other key)", async () => bearer(await token(attacker)), 401, "Jwt verification fails"],
    ["unknown kid", async () => bearer(await token(rs, {}, "nope")), 401, "Jwks doesn't have key to match kid or alg from Jwt"],
    ["tampered payload", async () => {
      const [h, , s] = (await token(rs)).split(".");
      const p = Buffer.from(JSON.stringify({ iss: ISSUER, sub: "mallory", aud: "sentiment" })).toString("base64url");
      return bearer(`${h}.${p}.${s}`);
    }, 401, "Jwt verification fails"],
    ["malformed", async () => bearer("not-a-jwt"), 401, "Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections"],
  ];
  for (const [name, headers, status, body] of cases) {
    const res = await request(port, "/open/page?x=1", { headers: await headers() });
    assert.equal(res.status, status, name);
    if (body !== undefined) {
      assert.equal(res.body, body, name);
      assert.equal(res.headers["www-authenticate"], 'Bearer realm="http://example.com/open/page", error="invalid_token"', name);
    }
  }
});

test("a valid token: stripped unless forward, payload and claim headers, default access_token param", async () => {
  const port = proxy.port("istio");
  const t = await token(rs, { group: "users" });
  assert.equal((await request(port, "/open", { headers: bearer(t) })).status, 200);
  let seen = lastSeen();
  assert.equal(seen.headers.authorization, undefined, "forward: false strips the Authorization header");
  const payload = JSON.parse(Buffer.from(String(seen.headers["x-jwt-payload"]), "base64url").toString("utf8")) as JWTPayload;
  assert.equal(payload.sub, "alice");
  assert.equal(String(seen.headers["x-jwt-payload"]), t.split(".")[1], "the payload header carries the token's own payload segment");
  assert.equal(seen.headers["x-group"], "users", "claim_to_headers");

  // origins-0 names no location: Envoy's defaults (Authorization: Bearer, ?access_token=).
  assert.equal((await request(port, `/who?access_token=${t}`)).status, 200);

  // origins-1: custom header with a prefix, forwarded as is.
  const other = await token(rs, { iss: OTHER });
  assert.equal((await request(port, "/open", { headers: { "x-token": `Token ${other}` } })).status, 200);
  seen = lastSeen();
  assert.equal(seen.headers["x-token"], `Token ${other}`, "forward: true keeps the token");
  assert.equal(seen.headers["x-jwt-payload"], undefined, "origins-1 sets no payload header");
  assert.equal((await request(port, "/open", { headers: { "x-token": other } })).status, 200, "no prefix: the token is not found, and no token is allowed");
  assert.equal((await request(port, "/who", { headers: { "x-token": other } })).status, 403, "…but then it is unauthenticated");

  // origins-1 from a query parameter; Envoy leaves query parameters in place.
  assert.equal((await request(port, `/open/q?tok=${other}`)).status, 200);
  assert.equal(lastSeen().url, `/open/q?tok=${other}`);
});

test("RBAC reads the verified payload: request principal, claims (plain, list, nested), audiences, presenter, Envoy metadata", async () => {
  const port = proxy.port("istio");
  const cases: Array<[string, string, JWTPayload | undefined, number]> = [
    ["/who", "no token → 403 from RBAC", undefined, 403],
    ["/who", "alice", {}, 200],
    ["/who", "bob", { sub: "bob" }, 403],
    ["/authn", "any request principal", { sub: "bob" }, 200],
    ["/authn", "no token", undefined, 403],
    ["/admin", "moderator (plain string claim)", { group: "moderator" }, 200],
    ["/admin", "users", { group: "users" }, 403],
    ["/admin", "list claim containing moderator", { group: ["users", "moderator"] }, 200],
    ["/nested", "nested claim", { realm: { role: "boss" } }, 200],
    ["/nested", "nested claim (other value)", { realm: { role: "intern" } }, 403],
    ["/aud", "audience", {}, 200],
    ["/azp", "presenter", { azp: "frontend" }, 200],
    ["/azp", "other presenter", { azp: "cli" }, 403],
    ["/envoy", "Envoy payload_in_metadata", {}, 200],
  ];
  for (const [path, name, claims, status] of cases) {
    const headers = claims ? bearer(await token(rs, claims)) : {};
    const res = await request(port, path, { headers });
    assert.equal(res.status, status, `${path}: ${name}`);
    if (status === 403) assert.equal(res.body, "RBAC: access denied");
  }
  // A token of the other issuer is a request principal too, of its own issuer.
  assert.equal((await request(port, "/authn", { headers: { "x-token": `Token ${await token(rs, { iss: OTHER })}` } })).status, 200);
});

test("CORS preflights bypass verification when bypass_cors_preflight is set", async () => {
  const res = await request(proxy.port("istio"), "/open", { method: "OPTIONS", headers: { origin: "http://x.test", "access-control-request-method": "GET", ...bearer("bad.bad.bad") } });
  assert.equal(res.status, 200);
});

test("rules and requirements: missing token, requires_any/all, provider_and_audiences, allow_missing_or_failed, per-route", async () => {
  const port = proxy.port("strict");
  const p = await token(rs);
  const q = await token(rs, { iss: OTHER });
  const missingRes = await request(port, "/x");
  assert.equal(missingRes.status, 401);
  assert.equal(missingRes.body, "Jwt is missing");
  assert.equal(missingRes.headers["www-authenticate"], 'Bearer realm="http://example.com/x"', "no error= for a missing token");
  const cases: Array<[string, Record<string, string>, number]> = [
    ["/x", bearer(p), 200],
    ["/x", bearer(q), 401],
    ["/public/page", {}, 200],
    ["/either", bearer(q), 200],
    ["/either/more", bearer(q), 401],
    ["/both", bearer(p), 200],
    ["/both", bearer(await token(rs, { aud: "other" })), 403],
    ["/lenient", bearer("bad.bad.bad"), 200],
    ["/lenient", {}, 200],
    ["/disabled", {}, 200],
    ["/named", bearer(q), 200],
    ["/named", bearer(p), 401],
  ];
  for (const [path, headers, status] of cases) assert.equal((await request(port, path, { headers })).status, status, `${path} ${JSON.stringify(headers).slice(0, 40)}`);
  await request(port, "/x", { headers: bearer(p) });
  assert.equal(lastSeen().headers.authorization, `Bearer ${p}`, "forward: true");
});

async function stat(name: string): Promise<number> {
  const res = await fetch(`${proxy.adminUrl}/stats?format=json`);
  const body = (await res.json()) as { stats: Array<{ name: string; value: number }> };
  return body.stats.find((s) => s.name === name)?.value ?? 0;
}

test("remote JWKS: fetched once and cached, refreshed after cache_duration, a failed fetch lets nothing in", async () => {
  const port = proxy.port("remote");
  const t = await token(rs, { iss: REMOTE });
  const hitsBefore = jwksHits.get("/jwks") ?? 0;
  const [a, b] = await Promise.all([request(port, "/good", { headers: bearer(t) }), request(port, "/good", { headers: bearer(t) })]);
  assert.equal(a.status, 200);
  assert.equal(b.status, 200);
  assert.equal((await request(port, "/good", { headers: bearer(t) })).status, 200);
  assert.equal((jwksHits.get("/jwks") ?? 0) - hitsBefore, 1, "one fetch serves concurrent and later requests");
  assert.equal((await request(port, "/good", { headers: bearer(await token(attacker, { iss: REMOTE })) })).status, 401, "remote keys verify signatures too");

  // Rotation: cache_duration 0s refetches each time, so new keys count at once.
  const oldToken = await token(rotA, { iss: REMOTE });
  const newToken = await token(rotB, { iss: REMOTE });
  assert.equal((await request(port, "/rotating", { headers: bearer(oldToken) })).status, 200);
  assert.equal((await request(port, "/rotating", { headers: bearer(newToken) })).status, 401);
  rotatingKeys = [rotB.pub];
  assert.equal((await request(port, "/rotating", { headers: bearer(newToken) })).status, 200);
  assert.equal((await request(port, "/rotating", { headers: bearer(oldToken) })).status, 401);

  // The JWKS endpoint fails: even a correctly signed token is refused, and it shows.
  const failedBefore = await stat("http.remote.jwt_authn.jwks_fetch_failed");
  const res = await request(port, "/broken", { headers: bearer(t) });
  assert.equal(res.status, 401);
  assert.equal(res.body, "Jwks remote fetch is failed");
  assert.equal((await request(port, "/broken")).body, "Jwt is missing", "no token: nothing to fetch keys for");
  assert.equal((await stat("http.remote.jwt_authn.jwks_fetch_failed")) - failedBefore, 1);
  assert.ok((await stat("http.remote.jwt_authn.jwks_fetch_success")) >= 3);
});

test("a jwt_authn config the proxy cannot honour is NACKed with the field path", async () => {
  const bad = httpListener("bad", {
    routeConfig: routeConfig("bad", [vhost("all", ["*"], [{ match: { prefix: "/" }, route: { cluster: "app" } }])]),
    filters: [{ name: "envoy.filters.http.jwt_authn", typed_config: { "@type": JWT, providers: { p: { issuer: ISSUER, local_jwks: { inline_string: "{\"keys\": []}" } } } } }],
  });
  ads.set("LDS", [bad]);
  const nack = await ads.waitForNack("LDS");
  assert.match(nack.error!, /listener bad: .*http_filters\[0\]\.typed_config\.providers\.p\.local_jwks: invalid JWKS: JWKS doesn't have valid keys/);
});
