// How response bodies reach an HTTP/1.1 client through the proxy: a body of known length
// ends with the chunk that completes it (res.end(lastChunk)), so these tests pin what a
// client sees: every byte, nothing held back while the upstream is still sending, the
// keep-alive connection reused afterwards, and the byte count the access log reports.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { TestAdsServer } from "./helpers/ads-server.ts";
import { httpListener, routeConfig, serve, startProxy, startUpstream, staticCluster, vhost, type RunningProxy, type Upstream } from "./helpers/fixtures.ts";

let ads: TestAdsServer;
let proxy: RunningProxy;
let upstream: Upstream;
let port: number;
/** Resolved by the client when it has seen the first part of a streamed body. */
let firstPartSeen: (() => void) | undefined;
const completed: Array<{ path: string; code: number; bytesSent: number }> = [];

before(async () => {
  ads = new TestAdsServer();
  await ads.start();
  upstream = await startUpstream((req, res) => {
    const url = req.url ?? "";
    if (url === "/pieces") {
      // 3 × 1000 bytes of a declared 3000, in separate writes.
      res.writeHead(200, { "content-length": "3000" });
      let i = 0;
      const next = (): void => {
        res.write("abcdefghij".repeat(100));
        if (++i < 3) setTimeout(next, 5);
        else res.end();
      };
      next();
      return;
    }
    // The second part is sent only once the client has received the first: a proxy
    // that held a chunk back would never get it.
    const chunked = url === "/stream-chunked";
    res.writeHead(200, chunked ? {} : { "content-length": "10" });
    res.write("hello");
    const waited = new Promise<void>((resolve) => (firstPartSeen = resolve));
    void waited.then(() => res.end("world"));
  });
  proxy = await startProxy(ads);
  proxy.proxy.observers.push((ctx) => completed.push({ path: ctx.path, code: ctx.responseCode, bytesSent: ctx.bytesSent }));
  await serve(ads, proxy, {
    clusters: [staticCluster("up", [upstream.port])],
    listeners: [httpListener("http", { routeConfig: routeConfig("local", [vhost("all", ["*"], [{ match: { prefix: "/" }, route: { cluster: "up" } }])]) })],
  });
  port = proxy.port("http");
});

after(async () => {
  await proxy.stop();
  await upstream.close();
  await ads.stop();
});

interface Got {
  status: number;
  body: string;
  reusedSocket: boolean;
}

function get(agent: http.Agent, path: string, onData?: (body: string) => void): Promise<Got> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: "127.0.0.1", port, path, agent, headers: { host: "example.com" } }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => {
        body += c;
        onData?.(body);
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body, reusedSocket: req.reusedSocket }));
    });
    req.setTimeout(10_000, () => req.destroy(new Error(`${path}: no complete answer within 10 s`)));
    req.on("error", reject);
  });
}

test("a body of known length sent in pieces arrives whole, is counted, and the connection is reused", async (t) => {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.after(() => agent.destroy());
  const first = await get(agent, "/pieces");
  assert.equal(first.status, 200);
  assert.equal(first.body, "abcdefghij".repeat(300));
  const second = await get(agent, "/pieces");
  assert.equal(second.body.length, 3000);
  assert.equal(second.reusedSocket, true, "the keep-alive connection serves the next request");
  const seen = completed.filter((c) => c.path === "/pieces");
  assert.equal(seen.length, 2);
  for (const c of seen) assert.deepEqual({ code: c.code, bytesSent: c.bytesSent }, { code: 200, bytesSent: 3000 });
});

for (const path of ["/stream", "/stream-chunked"]) {
  test(`${path}: the first part reaches the client before the upstream sends the rest`, async (t) => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    t.after(() => agent.destroy());
    const got = await get(agent, path, (body) => {
      if (body === "hello") firstPartSeen?.();
    });
    assert.equal(got.body, "helloworld");
    const again = await get(agent, "/pieces");
    assert.equal(again.body.length, 3000);
    assert.equal(again.reusedSocket, true);
  });
}
