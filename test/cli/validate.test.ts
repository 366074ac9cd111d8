// `skiff validate` as a user runs it: a real process, real files, real stdin.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";

const bin = new URL("../../bin/skiff.js", import.meta.url).pathname;
const fixture = new URL("../api/fixtures/istio-docs.yaml", import.meta.url).pathname;

function skiff(args: string[], stdin = ""): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], { stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d));
    child.stderr.on("data", (d: Buffer) => (stderr += d));
    // Generous: only here so that a hang fails the test instead of stalling the suite.
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(stdin);
  });
}

const broken = `apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata:
  name: reviews
  namespace: shop
spec:
  hosts: [reviews]
  http:
  - route:
    - destination: {host: reviews}
      weight: "all"
---
apiVersion: networking.istio.io/v2
kind: Gateway
metadata: {name: gw}
`;

test("valid files pass: exit 0 and a summary", async () => {
  const r = await skiff(["validate", "-f", fixture]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /^16 resources: 0 errors, 0 warnings$/m);
});

test("stdin with errors: every problem as FILE:LINE:COL Kind ns/name: path: message, exit 1", async () => {
  const r = await skiff(["validate", "-f", "-"], broken);
  assert.equal(r.code, 1);
  const lines = r.stdout.trim().split("\n");
  assert.ok(lines.includes('<stdin>:11:15 VirtualService shop/reviews: spec.http[0].route[0].weight: must be an integer, not string "all"'), r.stdout);
  assert.ok(lines.some((l) => l.startsWith('<stdin>:13:13 Gateway gw: apiVersion: apiVersion "networking.istio.io/v2" is not valid for kind Gateway')), r.stdout);
  assert.match(lines[lines.length - 1], /^1 resource: 2 errors, 0 warnings$/);
  assert.equal(r.stderr, "");
});

test("--output json gives the same problems for tools", async () => {
  const r = await skiff(["validate", "--output", "json", "-f", "-"], broken);
  assert.equal(r.code, 1);
  const report = JSON.parse(r.stdout) as { valid: boolean; errors: number; diagnostics: Record<string, unknown>[] };
  assert.equal(report.valid, false);
  assert.equal(report.errors, 2);
  assert.deepEqual(report.diagnostics[0], {
    severity: "error",
    file: "<stdin>",
    line: 11,
    col: 15,
    kind: "VirtualService",
    namespace: "shop",
    name: "reviews",
    path: "spec.http[0].route[0].weight",
    message: 'must be an integer, not string "all"',
  });
});

test("several -f, malformed YAML and an empty file: errors and warnings, no stack trace", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "skiff-validate-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, "bad.yaml"), "apiVersion: v1\nkind: Namespace\nmetadata: {name: [oops}\n");
  writeFileSync(join(dir, "empty.yaml"), "# nothing yet\n");
  const r = await skiff(["validate", "-f", join(dir, "bad.yaml"), "-f", join(dir, "empty.yaml"), "-f", fixture]);
  assert.equal(r.code, 1);
  assert.match(r.stdout, new RegExp(`^${join(dir, "bad.yaml")}:3:\\d+ invalid YAML: `, "m"));
  assert.match(r.stdout, new RegExp(`^${join(dir, "empty.yaml")}:1:1 warning: file has no resources`, "m"));
  assert.match(r.stdout, /^16 resources: \d+ errors?, 1 warning$/m);
  assert.doesNotMatch(r.stdout + r.stderr, /\n\s+at /, "no stack trace");
});

test("only warnings: exit 0", async () => {
  const r = await skiff(["validate", "-f", "-"], "");
  assert.equal(r.code, 0);
  assert.match(r.stdout, /warning: file has no resources/);
});

test("unknown flags and missing files are usage errors: exit 2", async () => {
  const unknown = await skiff(["validate", "--frobnicate", "-f", fixture]);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /unknown option "--frobnicate"/);
  const none = await skiff(["validate"]);
  assert.equal(none.code, 2);
  assert.match(none.stderr, /no files given/);
  const format = await skiff(["validate", "-o", "yaml", "-f", fixture]);
  assert.equal(format.code, 2);
  assert.match(format.stderr, /--output must be text or json/);
});
