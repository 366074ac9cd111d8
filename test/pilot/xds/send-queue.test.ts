// The push send queue: responses leave in order, at most a byte budget is being written
// at a time (one response always may go), a closed stream's responses are dropped, and
// producers waiting on the backlog resume when it drains.
import { test } from "node:test";
import assert from "node:assert/strict";
import { SendQueue, type ResponseSink } from "../../../src/pilot/xds/send-queue.ts";
import type { OutgoingResponse } from "../../../src/pilot/xds/connection.ts";

const response = (nonce: string, bytes: number): OutgoingResponse => ({ version_info: "v", type_url: "t", nonce, resources: [{ type_url: "t", value: Buffer.alloc(bytes) }] });

/** A sink that completes writes only when the test says so. */
function sink(name: string, log: string[], closed = false): ResponseSink & { finish(): void; closed: boolean } {
  const pending: (() => void)[] = [];
  return {
    closed,
    write(r, done) {
      log.push(`${name}:${r.nonce}`);
      pending.push(done);
    },
    finish() {
      pending.shift()?.();
    },
  };
}

test("in order, within the byte budget, and a closed stream's responses are dropped", () => {
  const log: string[] = [];
  const queue = new SendQueue(1000, 100);
  const a = sink("a", log);
  const b = sink("b", log);
  const gone = sink("gone", log, true);
  queue.send(a, response("1", 600));
  queue.send(gone, response("1", 10));
  queue.send(b, response("1", 600));
  queue.send(a, response("2", 10));
  assert.deepEqual(log, ["a:1"], "the second 600-byte response waits: 1,200 bytes would exceed the budget");
  a.finish();
  assert.deepEqual(log, ["a:1", "b:1", "a:2"], "the closed stream is skipped; what fits goes");
  assert.equal(queue.backlog, 0);
  // One response larger than the whole budget still goes when nothing else is in flight.
  b.finish();
  a.finish();
  queue.send(b, response("2", 5000));
  assert.deepEqual(log.at(-1), "b:2");
});

test("producers wait while the backlog is at the high-water mark and resume as it drains", async () => {
  const log: string[] = [];
  const queue = new SendQueue(100, 2);
  const a = sink("a", log);
  for (let i = 1; i <= 3; i++) queue.send(a, response(String(i), 100));
  assert.equal(queue.backlog, 2);
  let resumed = false;
  const waiting = queue.drained().then(() => (resumed = true));
  await new Promise((r) => setImmediate(r));
  assert.equal(resumed, false);
  a.finish();
  await waiting;
  assert.equal(resumed, true);
  assert.deepEqual(log, ["a:1", "a:2"]);
});
