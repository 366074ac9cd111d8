// What a config source's diagnostics listeners hear (src/config/diagnostics-feed.ts, behind
// FileSource and MemorySource): the sorted list, only when it changes; one listener
// failing does not silence the others; unsubscribing stops the calls.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { Diagnostic } from "../../src/api/index.ts";
import { DiagnosticsFeed } from "../../src/config/diagnostics-feed.ts";

const problem = (file: string, message: string): Diagnostic => ({ severity: "error", path: "spec", message, fix: "fix it", file });

test("listeners hear each change once, sorted, and not a republish of the same list", (t) => {
  t.mock.method(console, "error", () => {});
  const feed = new DiagnosticsFeed();
  const heard: string[][] = [];
  const stop = feed.subscribe((d) => heard.push(d.map((x) => x.file ?? "")));
  feed.subscribe(() => {
    throw new Error("a broken listener");
  });
  const late = [problem("b.yaml", "late"), problem("a.yaml", "early")];
  feed.publish(late);
  feed.publish([...late].reverse());
  assert.deepEqual(heard, [["a.yaml", "b.yaml"]], "the same problems in another order are no change");
  assert.deepEqual(feed.current().map((d) => d.file), ["a.yaml", "b.yaml"]);
  feed.current().pop();
  assert.equal(feed.current().length, 2, "current() is a copy");
  feed.publish([]);
  assert.deepEqual(heard, [["a.yaml", "b.yaml"], []]);
  stop();
  feed.publish([problem("c.yaml", "again")]);
  assert.equal(heard.length, 2, "no call after unsubscribing");
});
