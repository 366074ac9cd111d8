// RequestAuthentication + AuthorizationPolicy YAML → the control plane's security
// translation → a real proxy over xDS → real requests. The tutorial's gateway story in
// miniature: `/` and `/static` open to all, `/sentiment` needs a valid token (401 for a
// forged or expired one, 403 for none), `/feedback` only for the moderator group.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey, type JWTPayload } from "jose";
import { loadText } from "../../../src/api/index.ts";
import { buildRegistry } from "../../../src/registry/index.ts";
import { buildPushContext, defaultMeshConfig, proxyView, type ProxyNode, type TranslationProblem } from "../../../src/pilot/translate/index.ts";
import { proxySecurity } from "../../../src/pilot/translate/security/index.ts";
import { TestAdsServer } from "../helpers/ads-server.ts";
import { httpListener, request, routeConfig, serve, startProxy, startUpstream, staticCluster, vhost, type Json, type RunningProxy, type Upstream } from "../helpers/fixtures.ts";

const ISSUER = "https://idp.demo.test";
const REMOTE_ISSUER = "https://remote-idp.demo.test";
let ads: TestAdsServer;
let proxy: RunningProxy;
let upstream: Upstream;
let key: CryptoKey;
let forger: CryptoKey;
let remoteKey: CryptoKey;
let jwksServer: http.Server;
let jwksFetches = 0;
const OTHER_ISSUER = "https://other-idp.demo.test";

function translated(yaml: string): { filters: Json[]; clusters: Json[] } {
  const { resources, diagnostics } = loadText(yaml, "security.yaml");
  assert.deepEqual(diagnostics.filter((d) => d.severity === "error"), []);
  const snapshot = { config: resources, registry: buildRegistry(resources, { domain: defaultMeshConfig.domain, version: 1 }), mesh: defaultMeshConfig, version: 1 };
  const node: ProxyNode = {
    id: "router~10.0.0.9~gw.istio-system~istio-system.svc.cluster.local",
    type: "router",
    ipAddresses: ["10.0.0.9"],
    podName: "gw.istio-system",
    namespace: "istio-system",
    labels: { istio: "ingressgateway" },
    serviceAccount: "istio-ingressgateway",
    workloadName: "gw",
    metadata: {},
  };
  const problems: TranslationProblem[] = [];
  const sec = proxySecurity(proxyView(buildPushContext(snapshot), node), problems);
  assert.deepEqual(problems, []);
  return { filters: sec.httpFilters, clusters: sec.extraClusters };
}

before(async () => {
  const pair = await generateKeyPair("ES256");
  key = pair.privateKey;
  forger = (await generateKeyPair("ES256")).privateKey;
  const jwks = JSON.stringify({ keys: [{ ...(await exportJWK(pair.publicKey)), kid: "demo", alg: "ES256" }] });
  // A second issuer whose keys the proxy fetches from a jwksUri (a real server on loopback).
  const remotePair = await generateKeyPair("ES256");
  remoteKey = remotePair.privateKey;
  const remoteJwks = JSON.stringify({ keys: [{ ...(await exportJWK(remotePair.publicKey)), kid: "demo", alg: "ES256" }] });
  jwksServer = http.createServer((_req, res) => {
    jwksFetches++;
    res.end(remoteJwks);
  });
  await new Promise<void>((r) => jwksServer.listen(0, "127.0.0.1", r));
  const jwksUri = `http://127.0.0.1:${(jwksServer.address() as AddressInfo).port}/jwks`;
  const selector = "  selector: {matchLabels: {istio: ingressgateway}}";
  // An ALLOW AuthorizationPolicy on the gateway; `rules` is the YAML list under rules:.
  const allow = (name: string, rules: string): string => `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: ${name}, namespace: istio-system}
spec:
${selector}
  action: ALLOW
  rules:
${rules}`;
  const yaml = `
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: jwt, namespace: istio-system}
spec:
${selector}
  jwtRules:
  - issuer: ${ISSUER}
    jwks: '${jwks}'
  - issuer: ${REMOTE_ISSUER}
    jwksUri: ${jwksUri}
---
${allow("allow-view", `  - to: [{operation: {paths: ["/", "/static*"]}}]`)}
---
${allow("allow-analysis", `  - from: [{source: {requestPrincipals: ["*"]}}]
    to: [{operation: {paths: ["/sentiment*"]}}]`)}
---
${allow("allow-feedback", `  - to: [{operation: {paths: ["/feedback*"]}}]
    when: [{key: "request.auth.claims[group]", values: ["moderator"]}]`)}
`;
  const { filters, clusters } = translated(yaml);
  // A second gateway listener whose RequestAuthentication names where tokens are and what
  // the proxy does with them; every request there needs a token (requestPrincipals).
  const locations = translated(`
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: jwt-locations, namespace: istio-system}
spec:
${selector}
  jwtRules:
  - issuer: ${ISSUER}
    jwks: '${jwks}'
    fromHeaders: [{name: x-token, prefix: "Token "}]
    fromParams: [tok]
    outputPayloadToHeader: x-jwt-payload
    forwardOriginalToken: true
  - issuer: ${OTHER_ISSUER}
    jwks: '${jwks}'
    fromHeaders: [{name: x-other-token}]
---
${allow("require-jwt", `  - from: [{source: {requestPrincipals: ["*"]}}]`)}
`);
  const toApp = (name: string, httpFilters: Json[]): Json => httpListener(name, { routeConfig: routeConfig(name, [vhost("all", ["*"], [{ match: { prefix: "/" }, route: { cluster: "app" } }])]), filters: httpFilters });
  ads = new TestAdsServer();
  await ads.start();
  upstream = await startUpstream(undefined, "app");
  proxy = await startProxy(ads);
  await serve(ads, proxy, {
    clusters: [staticCluster("app", [upstream.port]), ...clusters],
    listeners: [toApp("gw", filters), toApp("locations", locations.filters)],
  });
});

after(async () => {
  await proxy.stop();
  await ads.stop();
  await upstream.close();
  await new Promise<void>((r) => jwksServer.close(() => r()));
});

const now = (): number => Math.floor(Date.now() / 1000);
function token(claims: JWTPayload = {}, signWith: CryptoKey = key): Promise<string> {
  return new SignJWT({ iss: ISSUER, sub: "user", group: "users", exp: now() + 300, ...claims }).setProtectedHeader({ alg: "ES256", kid: "demo" }).sign(signWith);
}

test("the tutorial's JWT + AuthorizationPolicy story, end to end through the translation", async () => {
  const port = proxy.port("gw");
  const user = await token();
  const moderator = await token({ sub: "moderator", group: "moderator" });
  const cases: Array<[string, string | undefined, number, string]> = [
    ["/", undefined, 200, "open to all"],
    ["/static/app.js", undefined, 200, "open to all"],
    ["/sentiment", undefined, 403, "no token: unauthenticated, and requestPrincipals needs one"],
    ["/sentiment", await token({}, forger), 401, "forged"],
    ["/sentiment", await token({ exp: now() - 3600 }), 401, "expired"],
    ["/sentiment", user, 200, "valid token"],
    ["/feedback", user, 403, "not a moderator"],
    ["/feedback", moderator, 200, "moderator"],
    ["/feedback", undefined, 403, "no token"],
    ["/admin", moderator, 403, "no policy allows it"],
    ["/sentiment", await token({ iss: REMOTE_ISSUER }, remoteKey), 200, "the jwksUri issuer's token"],
    ["/sentiment", await token({ iss: REMOTE_ISSUER }), 401, "signed with the other issuer's key"],
  ];
  for (const [path, t, status, why] of cases) {
    const res = await request(port, path, { headers: t ? { authorization: `Bearer ${t}` } : {} });
    assert.equal(res.status, status, `${path}: ${why}`);
    if (status === 403) assert.equal(res.body, "RBAC: access denied", `${path}: ${why}`);
  }
  assert.equal(jwksFetches, 1, "the jwksUri keys were fetched once and cached");
});

test("RequestAuthentication fromHeaders with prefix, fromParams, outputPayloadToHeader and forwardOriginalToken, through the translation", async () => {
  const port = proxy.port("locations");
  const user = await token();
  const seen = async (path: string, headers: Record<string, string>): Promise<{ status: number; upstream?: http.IncomingHttpHeaders }> => {
    const before = upstream.requests.length;
    const res = await request(port, path, { headers });
    return { status: res.status, upstream: upstream.requests.length > before ? upstream.requests[upstream.requests.length - 1].headers : undefined };
  };

  const inHeader = await seen("/a", { "x-token": `Token ${user}` });
  assert.equal(inHeader.status, 200, "the token after the header's prefix is verified");
  assert.equal(inHeader.upstream?.["x-token"], `Token ${user}`, "forwardOriginalToken: the header reaches the app as it came");
  const payload = JSON.parse(Buffer.from(String(inHeader.upstream?.["x-jwt-payload"]), "base64url").toString("utf8")) as JWTPayload;
  assert.equal(payload.sub, "user", "outputPayloadToHeader carries the verified payload");
  assert.equal(payload.iss, ISSUER);

  const inParam = await seen(`/b?tok=${user}`, {});
  assert.equal(inParam.status, 200, "fromParams: the token in ?tok= is verified");
  assert.equal(typeof inParam.upstream?.["x-jwt-payload"], "string");

  assert.equal((await seen("/c", { "x-token": user })).status, 403, "without the prefix the header holds no token, so the request is unauthenticated");
  assert.equal((await seen("/d", { authorization: `Bearer ${user}` })).status, 403, "with fromHeaders/fromParams set, Authorization is not a token location");
  assert.equal((await seen("/e", { "x-token": `Token ${await token({}, forger)}` })).status, 401, "a forged token in the configured header");
  assert.equal((await seen(`/f?tok=${await token({ exp: now() - 3600 })}`, {})).status, 401, "an expired token in the configured parameter");

  const other = await seen("/g", { "x-other-token": await token({ iss: OTHER_ISSUER }) });
  assert.equal(other.status, 200, "the other issuer's token in its own header");
  assert.equal(other.upstream?.["x-other-token"], undefined, "without forwardOriginalToken the token header is removed before the app");
  assert.equal(other.upstream?.["x-jwt-payload"], undefined, "that rule has no outputPayloadToHeader");
});
