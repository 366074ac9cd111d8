// The open-loop generator must count queueing: with a server slower than the request
// rate, latency measured from the scheduled send time grows with the backlog (a
// closed-loop client would report the server's service time only).
import { test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { spawn } from "node:child_process";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";

const loadgen = fileURLToPath(new URL("../../bench/lib/loadgen.ts", import.meta.url));

function runLoadgen(cfg: Record<string, unknown>): Promise<{ completed: number; errors: number; non2xx: number; latency: { count: number; p50: number; max: number } }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", loadgen, JSON.stringify(cfg)], { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
    child.on("exit", () => {
      clearTimeout(timer);
      const done = out.split("\n").filter(Boolean).map((l) => JSON.parse(l)).find((m) => m.event === "done");
      if (done) resolve(done);
      else reject(new Error(`loadgen printed no result: ${out}`));
    });
  });
}

async function withServer(handler: http.RequestListener, fn: (port: number) => Promise<void>): Promise<void> {
  const server = http.createServer(handler);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  try {
    await fn((server.address() as AddressInfo).port);
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
}

test("latency is measured from the scheduled send time, so a backlog shows up", async () => {
  // 20 ms per response on one connection = 50 rps capacity, offered 100 rps for 1 s:
  // the last requests wait behind about half a second of backlog.
  await withServer(
    (_req, res) => setTimeout(() => res.end("ok"), 20),
    async (port) => {
      const r = await runLoadgen({ port, rate: 100, connections: 1, warmupS: 0, durationS: 1, requestLine: "GET / HTTP/1.1", host: "127.0.0.1" });
      assert.equal(r.errors, 0);
      assert.equal(r.completed, r.latency.count);
      assert.ok(r.latency.count >= 90, `about 100 requests measured, got ${r.latency.count}`);
      assert.ok(r.latency.max > 300, `backlog visible in max latency, got ${r.latency.max} ms`);
      assert.ok(r.latency.p50 > 100, `median includes queueing, got ${r.latency.p50} ms`);
    },
  );
});

test("chunked and non-2xx responses are read and counted", async () => {
  await withServer(
    (req, res) => {
      res.statusCode = req.url === "/missing" ? 404 : 200;
      res.write("part one, ");
      res.end("part two");
    },
    async (port) => {
      const ok = await runLoadgen({ port, rate: 50, connections: 2, warmupS: 0, durationS: 0.4, requestLine: "GET / HTTP/1.1", host: "127.0.0.1" });
      assert.equal(ok.errors, 0);
      assert.equal(ok.non2xx, 0);
      assert.ok(ok.completed >= 15);
      const bad = await runLoadgen({ port, rate: 50, connections: 1, warmupS: 0, durationS: 0.2, requestLine: "GET /missing HTTP/1.1", host: "127.0.0.1" });
      assert.equal(bad.non2xx, bad.completed);
      assert.ok(bad.completed > 0);
    },
  );
});
