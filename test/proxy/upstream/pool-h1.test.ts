// The HTTP/1.1 pool's wire behaviour now that it sends through undici: what goes
// upstream (Expect, te, Host), what comes back (duplicate headers as node:http gives
// them), and what happens to bodies and connections when a response is cut short.
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { PassThrough, Readable } from "node:stream";
import { ClusterManager } from "../../../src/proxy/upstream/index.ts";
import type { UpstreamCluster, UpstreamHttpResult } from "../../../src/proxy/upstream/index.ts";
import { endpoint, startHttp1, staticCluster, type TestServer } from "./helpers.ts";

function make(t: TestContext, s: TestServer): UpstreamCluster {
  const cm = new ClusterManager();
  t.after(async () => {
    await cm.close();
    await s.close();
  });
  assert.deepEqual(cm.applyClusters([staticCluster("c", [endpoint(s.port)])]).errors, []);
  return cm.get("c")!;
}

async function bodyText(r: UpstreamHttpResult): Promise<string> {
  assert.equal(r.kind, "response");
  if (r.kind !== "response") return "";
  const chunks: Buffer[] = [];
  for await (const c of r.body) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString();
}

test("Expect is answered by the proxy, not forwarded; te: trailers and the authority as Host are", async (t) => {
  let seen: Record<string, string | string[] | undefined> = {};
  const s = await startHttp1("echo", (req, res) => {
    seen = req.headers;
    const chunks: Buffer[] = [];
    req.on("data", (d: Buffer) => chunks.push(d));
    req.on("end", () => res.end(Buffer.concat(chunks)));
  });
  const c = make(t, s);
  const r = await c.httpRequest(c.selectHost({})!, {
    method: "POST",
    path: "/upload",
    authority: "svc.local:8080",
    headers: { expect: "100-continue", te: "trailers", "content-type": "text/plain", "content-length": "5" },
    body: Readable.from([Buffer.from("hello")], { objectMode: false }),
  });
  assert.equal(await bodyText(r), "hello");
  assert.equal(seen.expect, undefined);
  assert.equal(seen.te, "trailers");
  assert.equal(seen.host, "svc.local:8080");
});

test("duplicate response headers come back as node:http gives them: set-cookie a list, others joined, single-valued ones first", async (t) => {
  const s = await startHttp1("dups", (req, res) => {
    req.resume();
    // writeHead with a raw header list sends every line as given.
    res.writeHead(200, ["set-cookie", "a=1", "set-cookie", "b=2", "x-multi", "one", "x-multi", "two", "content-type", "text/plain", "content-type", "text/html", "content-length", "2"]);
    res.end("ok");
  });
  const c = make(t, s);
  const r = await c.httpRequest(c.selectHost({})!, { method: "GET", path: "/", authority: "t", headers: {} });
  assert.equal(r.kind, "response");
  if (r.kind !== "response") return;
  assert.deepEqual(r.headers["set-cookie"], ["a=1", "b=2"]);
  assert.equal(r.headers["x-multi"], "one, two");
  assert.equal(r.headers["content-type"], "text/plain");
  assert.equal(await bodyText(r), "ok");
});

test("an upstream that resets mid-body: the response arrives, its body fails, rx_reset counts, the slot is freed", async (t) => {
  const s = await startHttp1("cut", (req, res) => {
    req.resume();
    res.writeHead(200, { "content-length": "100" });
    res.write("partial");
    setTimeout(() => res.socket?.destroy(), 20);
  });
  const c = make(t, s);
  const r = await c.httpRequest(c.selectHost({})!, { method: "GET", path: "/", authority: "t", headers: {} });
  assert.equal(r.kind, "response");
  if (r.kind !== "response") return;
  await assert.rejects(bodyText(r));
  assert.equal(c.stats.upstream_rq_rx_reset, 1);
  for (let i = 0; i < 100 && c.stats.upstream_rq_active > 0; i++) await new Promise((res) => setTimeout(res, 10));
  assert.equal(c.stats.upstream_rq_active, 0);
});

test("a response body dropped before its end closes that connection; the next request gets a fresh one", async (t) => {
  const s = await startHttp1("slow-body", (req, res) => {
    req.resume();
    if (req.url === "/endless") {
      res.writeHead(200, { "content-length": "1000000" });
      res.write("x".repeat(1000)); // and never the rest
    } else res.end("fine");
  });
  const c = make(t, s);
  const host = c.selectHost({})!;
  const r = await c.httpRequest(host, { method: "GET", path: "/endless", authority: "t", headers: {} });
  assert.equal(r.kind, "response");
  if (r.kind === "response") r.body.destroy();
  for (let i = 0; i < 100 && (c.stats.upstream_rq_active > 0 || c.stats.upstream_cx_active > 0); i++) await new Promise((res) => setTimeout(res, 10));
  assert.equal(c.stats.upstream_rq_active, 0);
  assert.equal(c.stats.upstream_cx_active, 0, "a connection with half a response on it is not reused");
  const next = await c.httpRequest(host, { method: "GET", path: "/", authority: "t", headers: {} });
  assert.equal(await bodyText(next), "fine");
  assert.equal(s.connections, 2);
});

test("a request that fails leaves the caller's body stream alive (the router still answers on it or replays it)", async (t) => {
  const s = await startHttp1("reset", (req) => req.socket.destroy());
  const c = make(t, s);
  const body = new PassThrough();
  const p = c.httpRequest(c.selectHost({})!, { method: "POST", path: "/", authority: "t", headers: { "content-length": "4" }, body });
  body.write("ab");
  const r = await p;
  assert.equal(r.kind === "failure" && r.failure, "reset");
  assert.equal(body.destroyed, false);
  body.end("cd");
});
