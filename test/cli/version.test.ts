import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";

const bin = new URL("../../bin/skiff.js", import.meta.url).pathname;

test("skiff version prints the package version", () => {
  const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string };
  const out = execFileSync(process.execPath, [bin, "version"], { encoding: "utf8" });
  assert.match(out, new RegExp(`^skiff ${pkg.version.replace(/\./g, "\\.")} `));
});

test("an unknown command exits 2 with usage", () => {
  try {
    execFileSync(process.execPath, [bin, "frobnicate"], { encoding: "utf8", stdio: "pipe" });
    assert.fail("expected a non-zero exit");
  } catch (err) {
    const e = err as { status: number; stderr: string };
    assert.equal(e.status, 2);
    assert.match(e.stderr, /unknown command "frobnicate"/);
  }
});
