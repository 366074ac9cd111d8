// The xDS and SDS streams' reconnect delay: jittered within 50–100% of a delay that doubles
// up to its cap, back to the first after an answer; a stopped client never reconnects.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Reconnect } from "../../src/proxy/reconnect.ts";

test("each wait is 50-100% of a delay that doubles up to the cap, and reset starts over", (t) => {
  t.mock.timers.enable({ apis: ["setTimeout"] });
  const r = new Reconnect(100, 1_000);
  const bases = [100, 200, 400, 800, 1_000, 1_000];
  for (const base of bases) {
    const delay = r.schedule(() => {});
    assert.ok(delay >= base / 2 && delay <= base, `${delay} within ${base / 2}-${base}`);
  }
  r.reset();
  const first = r.schedule(() => {});
  assert.ok(first >= 50 && first <= 100, `after reset: ${first}`);
  r.cancel();
});

test("the scheduled attempt runs after its delay; cancel drops it", (t) => {
  t.mock.timers.enable({ apis: ["setTimeout"] });
  let attempts = 0;
  const r = new Reconnect(100, 1_000);
  const delay = r.schedule(() => attempts++);
  t.mock.timers.tick(delay - 1);
  assert.equal(attempts, 0);
  t.mock.timers.tick(1);
  assert.equal(attempts, 1);
  r.schedule(() => attempts++);
  r.cancel();
  t.mock.timers.tick(10_000);
  assert.equal(attempts, 1, "a cancelled attempt never runs");
});
