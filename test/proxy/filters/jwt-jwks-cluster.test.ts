// jwt_authn fetches a remote JWKS through the cluster its http_uri names, as Envoy does:
// the cluster's endpoints (round robin over two IdP replicas), its transport socket
// (mutual TLS with mesh certificates to an IdP that requires a client certificate), and
// the URI's authority and path on the request. A cluster the proxy does not know, one
// whose endpoint refuses, or one without the TLS the IdP needs: 401 "Jwks remote fetch is
// failed" and jwks_fetch_failed, never a verified request. No cluster named: the URI is
// fetched directly.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import https from "node:https";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { AddressInfo } from "node:net";
import type { TLSSocket } from "node:tls";
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey, type JWK } from "jose";
import { peerSpiffeId } from "../../../src/ca/index.ts";
import type { Svid } from "../../../src/agent/index.ts";
import { TestAdsServer } from "../helpers/ads-server.ts";
import { meshOf } from "../helpers/mesh-identity.ts";
import { httpListener, request, routeConfig, serve, startProxy, startUpstream, staticCluster, vhost, type Json, type RunningProxy, type Upstream } from "../helpers/fixtures.ts";

const JWT = "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication";
const UPSTREAM_TLS = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext";
const ISSUER = "http://idp.demo.svc.cluster.local/idp";
// Nothing listens on port 1: a fetch that went straight to the URI instead of through the
// cluster would fail, so a 200 proves the cluster carried it.
const URI_AUTHORITY = "127.0.0.1:1";
const IDP_ID = "spiffe://cluster.local/ns/demo/sa/idp";
const GATEWAY_ID = "spiffe://cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account";

let dir: string;
let ads: TestAdsServer;
let proxy: RunningProxy;
let app: Upstream;
let signingKey: CryptoKey;
let jwk: JWK;
/** What each IdP replica saw: host header, path, client SPIFFE ID. */
const seen: Array<{ replica: string; host: string; path: string; client: string | undefined }> = [];
const idps: https.Server[] = [];
let plainIdp: http.Server;
let closedPort: number;

function listen(server: http.Server | https.Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve((server.address() as AddressInfo).port)));
}

/** Istio's client side of mesh mTLS, with the certificates inline. */
function meshClientSocket(client: Svid): Json {
  return {
    name: "envoy.transport_sockets.tls",
    typed_config: {
      "@type": UPSTREAM_TLS,
      sni: "outbound_.80_._.idp.demo.svc.cluster.local",
      common_tls_context: {
        tls_certificates: [{ certificate_chain: { inline_string: client.certChainPem }, private_key: { inline_string: client.keyPem } }],
        validation_context: { trusted_ca: { inline_string: client.rootsPem }, match_typed_subject_alt_names: [{ san_type: "URI", matcher: { exact: IDP_ID } }] },
      },
    },
  };
}

function provider(cluster: string | undefined, uri = `http://${URI_AUTHORITY}/idp/jwks?v=1`): Json {
  return { issuer: ISSUER, remote_jwks: { http_uri: { uri, ...(cluster === undefined ? {} : { cluster }), timeout: "2s" }, cache_duration: "0s" } };
}

const sign = (): Promise<string> =>
  new SignJWT({ sub: "alice" }).setProtectedHeader({ alg: "ES256", kid: "k1" }).setIssuer(ISSUER).setExpirationTime("5m").sign(signingKey);

async function stat(name: string): Promise<number> {
  const res = await fetch(`${proxy.adminUrl}/stats?format=json`);
  const body = (await res.json()) as { stats: Array<{ name: string; value: number }> };
  return body.stats.find((s) => s.name === name)?.value ?? 0;
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "skiff-jwks-cluster-"));
  const { manager } = await meshOf(dir);
  const [idpSvid, gatewaySvid, pair] = await Promise.all([
    manager("idp").start(),
    manager("istio-ingressgateway-service-account", "istio-system").start(),
    generateKeyPair("ES256"),
  ]);
  signingKey = pair.privateKey;
  jwk = { ...(await exportJWK(pair.publicKey)), kid: "k1", alg: "ES256", use: "sig" };
  const jwks = JSON.stringify({ keys: [jwk] });
  // Two replicas of a sidecar'd IdP: mesh TLS, client certificate required.
  for (const replica of ["a", "b"]) {
    const server = https.createServer({ key: idpSvid.keyPem, cert: idpSvid.certChainPem, ca: idpSvid.rootsPem, requestCert: true, rejectUnauthorized: true }, (req, res) => {
      const peer = (req.socket as TLSSocket).getPeerCertificate();
      seen.push({ replica, host: req.headers.host ?? "", path: req.url ?? "", client: peerSpiffeId(peer) });
      res.setHeader("content-type", "application/json");
      res.end(jwks);
    });
    idps.push(server);
  }
  const [portA, portB] = await Promise.all(idps.map(listen));
  plainIdp = http.createServer((_req, res) => res.end(jwks));
  const plainPort = await listen(plainIdp);
  const closer = http.createServer();
  closedPort = await listen(closer);
  await new Promise<void>((r) => closer.close(() => r()));

  ads = new TestAdsServer();
  await ads.start();
  app = await startUpstream(undefined, "app");
  proxy = await startProxy(ads);
  const providers: Json = {
    mesh: provider("outbound|80||idp.demo.svc.cluster.local"),
    unknown: provider("outbound|80||nowhere.demo.svc.cluster.local"),
    refused: provider("refused"),
    plaintext: provider("plaintext-to-mtls"),
    direct: provider(undefined, `http://127.0.0.1:${plainPort}/idp/jwks`),
  };
  const names = Object.keys(providers);
  const listener = httpListener("gw", {
    routeConfig: routeConfig("gw", [vhost("all", ["*"], [{ match: { prefix: "/" }, route: { cluster: "app" } }])]),
    filters: [{ name: "envoy.filters.http.jwt_authn", typed_config: { "@type": JWT, providers, rules: names.map((p) => ({ match: { prefix: `/${p}` }, requires: { provider_name: p } })) } }],
  });
  await serve(ads, proxy, {
    clusters: [
      staticCluster("app", [app.port]),
      staticCluster("outbound|80||idp.demo.svc.cluster.local", [portA!, portB!], { lb_policy: "ROUND_ROBIN", transport_socket: meshClientSocket(gatewaySvid) }),
      staticCluster("refused", [closedPort]),
      staticCluster("plaintext-to-mtls", [portA!]),
    ],
    listeners: [listener],
  });
});

after(async () => {
  await proxy.stop();
  await ads.stop();
  await app.close();
  for (const s of [...idps, plainIdp]) {
    s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => r()));
  }
  rmSync(dir, { recursive: true, force: true });
});

test("through the named cluster: its endpoints round robin, its mutual TLS, the URI's authority and path", async () => {
  const port = proxy.port("gw");
  const token = await sign();
  const before = seen.length;
  for (let i = 0; i < 4; i++) {
    // cache_duration 0s: every request fetches the keys again.
    const res = await request(port, `/mesh/${i}`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(res.status, 200, res.body);
  }
  const fetches = seen.slice(before);
  assert.equal(fetches.length, 4);
  assert.deepEqual(fetches.map((f) => f.replica).sort(), ["a", "a", "b", "b"], "round robin over the cluster's two endpoints");
  for (const f of fetches) {
    assert.equal(f.host, URI_AUTHORITY);
    assert.equal(f.path, "/idp/jwks?v=1");
    assert.equal(f.client, GATEWAY_ID, "the cluster's client certificate");
  }
  assert.ok((await stat("cluster.outbound|80||idp.demo.svc.cluster.local.upstream_rq_2xx")) >= 4, "counted on the cluster");
  // The keys verify signatures: a token from another key is refused.
  const other = await generateKeyPair("ES256");
  const forged = await new SignJWT({ sub: "eve" }).setProtectedHeader({ alg: "ES256", kid: "k1" }).setIssuer(ISSUER).setExpirationTime("5m").sign(other.privateKey);
  assert.equal((await request(port, "/mesh/x", { headers: { authorization: `Bearer ${forged}` } })).status, 401);
});

test("a fetch that cannot go through its cluster fails closed and is counted", async () => {
  const port = proxy.port("gw");
  const token = await sign();
  for (const [path, why] of [
    ["/unknown", "the cluster is not in CDS"],
    ["/refused", "the cluster's endpoint refuses connections"],
    ["/plaintext", "the cluster has no TLS and the IdP requires mutual TLS"],
  ] as const) {
    const failed = await stat("http.gw.jwt_authn.jwks_fetch_failed");
    const res = await request(port, path, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(res.status, 401, `${why}: ${res.body}`);
    assert.equal(res.body, "Jwks remote fetch is failed", why);
    assert.equal((await stat("http.gw.jwt_authn.jwks_fetch_failed")) - failed, 1, why);
  }
  assert.ok((await stat("cluster.refused.upstream_cx_connect_fail")) >= 1, "the refused connect shows on the cluster");
});

test("no cluster named: the URI is fetched directly", async () => {
  const res = await request(proxy.port("gw"), "/direct", { headers: { authorization: `Bearer ${await sign()}` } });
  assert.equal(res.status, 200, res.body);
});
