// Where netns mode puts the sidecars' bootstraps: a temp dir the proxy user can reach.
import { test } from "node:test";
import assert from "node:assert/strict";
import { chmodSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import { sharedTempDir } from "../../src/runtime/netns-mode.ts";

test("a private TMPDIR (0700 somewhere on its path) gives way to /tmp; an open one is kept", (t) => {
  // Under /tmp itself, so the test does not depend on how open $TMPDIR is.
  const dir = mkdtempSync(join("/tmp", "skiff-shared-tmp-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const open = join(dir, "open");
  const privateParent = join(dir, "private");
  const inside = join(privateParent, "inner");
  mkdirSync(open);
  mkdirSync(inside, { recursive: true });
  chmodSync(dir, 0o755);
  chmodSync(open, 0o1777);
  chmodSync(inside, 0o1777);
  chmodSync(privateParent, 0o700);
  assert.equal(sharedTempDir(open), open);
  assert.equal(sharedTempDir(inside), "/tmp", "a world-open dir under a private one is still unreachable");
  assert.equal(sharedTempDir(join(dir, "missing")), "/tmp");
});
