// Push debouncing: a burst of changes is one push; a steady trickle still pushes by the deadline.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Debouncer } from "../../../src/pilot/xds/debounce.ts";

test("a burst of changes becomes one push carrying the time of its first change", async () => {
  const fired: number[] = [];
  const d = new Debouncer({ quietMs: 30, maxDelayMs: 10_000 }, (first) => fired.push(first));
  const start = Date.now();
  for (let i = 0; i < 5; i++) d.trigger();
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(fired.length, 1);
  assert.ok(fired[0] >= start && fired[0] <= start + 50);
  d.stop();
});

test("changes that never pause still push once the maximum delay is reached", async () => {
  let fired = 0;
  const d = new Debouncer({ quietMs: 40, maxDelayMs: 60 }, () => fired++);
  // Changes every 10 ms for 300 ms: the quiet period never comes.
  for (let i = 0; i < 30 && fired === 0; i++) {
    d.trigger();
    await new Promise((r) => setTimeout(r, 10));
  }
  d.stop();
  assert.ok(fired >= 1, "pushed before the trickle ended");
});
