import { test } from "node:test";
import assert from "node:assert/strict";
import { Backoff } from "../../src/runtime/index.ts";

test("crash after crash doubles the delay up to the cap", () => {
  const b = new Backoff({ initialMs: 500, maxMs: 4000, resetAfterMs: 10_000 });
  let now = 0;
  const delays: number[] = [];
  for (let i = 0; i < 6; i++) {
    b.started(now);
    now += 100; // crashes 100 ms after start
    delays.push(b.exited(now));
    now += delays[delays.length - 1];
  }
  assert.deepEqual(delays, [500, 1000, 2000, 4000, 4000, 4000]);
  assert.equal(b.failures, 6);
});

test("a process that stayed up long enough restarts quickly again", () => {
  const b = new Backoff({ initialMs: 500, maxMs: 30_000, resetAfterMs: 10_000 });
  b.started(0);
  assert.equal(b.exited(50), 500);
  b.started(600);
  assert.equal(b.exited(700), 1000);
  b.started(2000);
  // Ran 10 s: the crash count starts over.
  assert.equal(b.exited(12_000), 500);
});

test("defaults: 0.5 s first, 30 s at most", () => {
  const b = new Backoff();
  let last = 0;
  for (let i = 0; i < 20; i++) {
    b.started(i);
    last = b.exited(i);
  }
  assert.equal(last, 30_000);
});
