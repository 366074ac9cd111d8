import { test } from "node:test";
import assert from "node:assert/strict";
import { checkDurationValue, parseDuration } from "../../../src/api/semantic/duration.ts";

const ms = (text: string): number => {
  const parsed = parseDuration(text);
  assert.ok("ms" in parsed, `${text}: ${"problem" in parsed ? parsed.problem : ""}`);
  return parsed.ms;
};

test("Go duration syntax parses to milliseconds", () => {
  assert.equal(ms("1.5s"), 1500);
  assert.equal(ms("100ms"), 100);
  assert.equal(ms("1h"), 3_600_000);
  assert.equal(ms("1h30m"), 5_400_000);
  assert.equal(ms("2m3.5s"), 123_500);
  assert.equal(ms(".5s"), 500);
  assert.equal(ms("0"), 0);
  assert.equal(ms("1500us"), 1.5);
});

test("malformed durations say why", () => {
  for (const text of ["10", "abc", "1d", "s", "1.5 s", ""]) {
    const parsed = parseDuration(text);
    assert.ok("problem" in parsed, `${JSON.stringify(text)} should not parse`);
  }
  const bare = parseDuration("10");
  assert.ok("problem" in bare && bare.problem.includes("unit is required"));
});

test("Istio's minimum of 1ms and millisecond precision", () => {
  assert.equal(checkDurationValue("1ms"), undefined);
  assert.equal(checkDurationValue("0.5s"), undefined);
  assert.match(checkDurationValue("500us") ?? "", /at least 1ms/);
  assert.match(checkDurationValue("0s") ?? "", /at least 1ms/);
  assert.match(checkDurationValue("-1s") ?? "", /at least 1ms/);
  assert.match(checkDurationValue("1.5ms") ?? "", /millisecond precision/);
});

test("zero is allowed where it means disabled", () => {
  assert.equal(checkDurationValue("0s", { allowZero: true }), undefined);
  assert.match(checkDurationValue("500us", { allowZero: true }) ?? "", /at least 1ms/);
});
