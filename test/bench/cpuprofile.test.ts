// The profile summarizer: self time per function from sample counts, idle excluded
// from the busy share, areas by where the code lives.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { summarizeProfile } from "../../bench/lib/cpuprofile.ts";

test("self time is summed per function and ranked", () => {
  const dir = mkdtempSync(path.join(tmpdir(), "skiff-prof-"));
  try {
    const frame = (functionName: string, url: string, lineNumber = 0) => ({ functionName, url, lineNumber, scriptId: "0", columnNumber: 0 });
    const profile = {
      startTime: 0,
      endTime: 10_000, // 10 ms, 10 samples → 1 ms each
      nodes: [
        { id: 1, callFrame: frame("(root)", "") },
        { id: 2, callFrame: frame("route", "file:///repo/src/proxy/router.ts", 9) },
        { id: 3, callFrame: frame("(idle)", "") },
        { id: 4, callFrame: frame("route", "file:///repo/src/proxy/router.ts", 9) },
        { id: 5, callFrame: frame("emit", "node:events", 470) },
      ],
      samples: [2, 2, 4, 3, 3, 3, 3, 5, 5, 2],
    };
    const file = path.join(dir, "p.cpuprofile");
    writeFileSync(file, JSON.stringify(profile));
    const s = summarizeProfile(file, 5);
    assert.equal(s.top[0].name, "route");
    assert.equal(s.top[0].location, "src/proxy/router.ts:10");
    assert.equal(Math.round(s.top[0].selfMs), 4);
    // Busy = 10 ms - 4 ms idle: route is 4/6 of it.
    assert.equal(Math.round(s.top[0].percent), 67);
    assert.ok(!s.top.some((e) => e.name === "(idle)"));
    assert.deepEqual(s.byArea.map((a) => a.area), ["src/proxy", "node: internals"]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
