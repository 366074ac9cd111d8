// The proxy's lightweight cancellation (what replaced AbortController per request), and
// the access-log writer's optional flush interval (one write per interval, not per line).
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { Cancellation } from "../../src/proxy/cancel.ts";
import { AccessLogWriter } from "../../src/telemetry/index.ts";

test("Cancellation: listeners run once on abort, removed ones do not, late ones are ignored, reset re-arms", () => {
  const c = new Cancellation();
  const calls: string[] = [];
  const a = (): void => void calls.push("a");
  const b = (): void => void calls.push("b");
  c.addEventListener("abort", a);
  c.addEventListener("abort", b);
  c.removeEventListener("abort", b);
  assert.equal(c.aborted, false);
  c.abort();
  c.abort();
  assert.equal(c.aborted, true);
  assert.deepEqual(calls, ["a"]);
  c.addEventListener("abort", b);
  assert.deepEqual(calls, ["a"]);
  c.reset();
  assert.equal(c.aborted, false);
  c.addEventListener("abort", b);
  c.abort();
  assert.deepEqual(calls, ["a", "b"]);
});

function recorder(t: TestContext): { stream: Writable; writes: string[] } {
  const writes: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb): void {
      writes.push(chunk.toString());
      cb();
    },
  });
  t.after(() => stream.destroy());
  return { stream, writes };
}

test("access-log writer with flushIntervalMs: lines of one interval leave in one write, in order", async (t) => {
  const { stream, writes } = recorder(t);
  const w = new AccessLogWriter(stream, false, { flushIntervalMs: 30 });
  for (let i = 0; i < 5; i++) {
    w.write(`line ${i}\n`);
    await new Promise((r) => setImmediate(r)); // next event-loop turns: no flush yet
  }
  assert.deepEqual(writes, []);
  for (let i = 0; i < 100 && writes.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(writes, ["line 0\nline 1\nline 2\nline 3\nline 4\n"]);
  assert.equal(w.written, 5);
});

test("access-log writer with flushIntervalMs: 64 KiB pending are written at once, and close() flushes the rest", async (t) => {
  const { stream, writes } = recorder(t);
  const w = new AccessLogWriter(stream, false, { flushIntervalMs: 60_000 });
  const line = "x".repeat(1023) + "\n";
  for (let i = 0; i < 64; i++) w.write(line);
  assert.equal(writes.length, 1);
  assert.equal(writes[0].length, 64 * 1024);
  w.write("tail\n");
  assert.equal(writes.length, 1);
  await w.close();
  assert.deepEqual(writes.slice(1), ["tail\n"]);
});

test("access-log writer without an interval still writes on the next event-loop turn", async (t) => {
  const { stream, writes } = recorder(t);
  const w = new AccessLogWriter(stream, false);
  w.write("a\n");
  w.write("b\n");
  assert.deepEqual(writes, []);
  await new Promise((r) => setImmediate(r));
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(writes, ["a\nb\n"]);
});
