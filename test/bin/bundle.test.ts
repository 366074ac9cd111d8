// bin/skiff.js runs an esbuild bundle of src/ (bin/bundle.js). These tests run a temporary
// copy of the package (src/, bin/, samples/, package.json; node_modules linked entry by
// entry) so they can edit sources, break them and watch the cache, without touching the
// checkout. tsx is left out of the copy's node_modules unless a test needs the fallback:
// a command that works there cannot have run through tsx.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, unlinkSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const TEST_VERSION = "0.0.0-bundle-test";

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function skiff(copy: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [path.join(copy, "bin", "skiff.js"), ...args], { cwd: copy, env: { ...process.env, SKIFF_NO_BUNDLE: "", ...env }, timeout: 90_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === "number" ? err.code : 1) : 0, stdout, stderr }),
    );
    child.stdin?.end();
  });
}

/** A copy of the package whose package.json says TEST_VERSION (so output proves which package.json was read). */
function packageCopy(t: { after: (fn: () => void) => void }, withTsx = false): string {
  const dir = mkdtempSync(path.join(tmpdir(), "skiff-bundle-test-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  for (const entry of ["src", "bin", "samples", "package-lock.json", "tsconfig.json"]) cpSync(path.join(REPO, entry), path.join(dir, entry), { recursive: true });
  const pkg = JSON.parse(readFileSync(path.join(REPO, "package.json"), "utf8")) as { version: string };
  writeFileSync(path.join(dir, "package.json"), JSON.stringify({ ...pkg, version: TEST_VERSION }, null, 2));
  mkdirSync(path.join(dir, "node_modules"));
  for (const name of readdirSync(path.join(REPO, "node_modules"))) {
    if (name === ".cache" || name === ".bin" || (name === "tsx" && !withTsx)) continue;
    symlinkSync(path.join(REPO, "node_modules", name), path.join(dir, "node_modules", name));
  }
  return dir;
}

const cacheEntries = (copy: string): string[] => {
  const dir = path.join(copy, "node_modules", ".cache", "skiff");
  return existsSync(dir) ? readdirSync(dir).sort() : [];
};
const bundles = (copy: string): string[] => cacheEntries(copy).filter((n) => /^[0-9a-f]{20}$/.test(n));

test("processes started at once build one bundle between them and all run from it", async (t) => {
  const copy = packageCopy(t);
  const runs = await Promise.all([1, 2, 3, 4].map(() => skiff(copy, ["version"])));
  for (const r of runs) {
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^skiff ${TEST_VERSION.replace(/\./g, "\\.")} `));
    assert.equal(r.stderr, "");
  }
  // One finished bundle; no half-built folder, failure mark or lock left behind.
  assert.deepEqual(cacheEntries(copy).length, 1, cacheEntries(copy).join(", "));
  assert.equal(bundles(copy).length, 1);
  assert.ok(existsSync(path.join(copy, "node_modules", ".cache", "skiff", bundles(copy)[0], "main.js")));
});

test("an edited, added or removed source file gets a new bundle; unchanged sources reuse it", async (t) => {
  const copy = packageCopy(t);
  assert.equal((await skiff(copy, ["version"])).code, 0);
  const first = bundles(copy);
  assert.equal(first.length, 1);
  assert.equal((await skiff(copy, ["version"])).code, 0);
  assert.deepEqual(bundles(copy), first, "nothing changed: no rebuild");

  const versionTs = path.join(copy, "src", "cli", "commands", "version.ts");
  writeFileSync(versionTs, readFileSync(versionTs, "utf8").replace("xDS API v3", "xDS API v3, edited"));
  const edited = await skiff(copy, ["version"]);
  assert.equal(edited.code, 0, edited.stderr);
  assert.match(edited.stdout, /xDS API v3, edited\)/, "the edit is what runs, not the old bundle");
  assert.equal(bundles(copy).length, 2);

  const extra = path.join(copy, "src", "cli", "unused-extra.ts");
  writeFileSync(extra, "export const unused = 1;\n");
  assert.equal((await skiff(copy, ["version"])).code, 0);
  assert.equal(bundles(copy).length, 3, "a new file changes the sources");
  unlinkSync(extra);
  assert.equal((await skiff(copy, ["version"])).code, 0);
  assert.equal(bundles(copy).length, 4, "a removed file changes the sources");
});

test("a source that does not build falls back to tsx, said once, and SKIFF_NO_BUNDLE=1 skips the bundle", async (t) => {
  const copy = packageCopy(t, true);
  const validateTs = path.join(copy, "src", "cli", "commands", "validate.ts");
  writeFileSync(validateTs, readFileSync(validateTs, "utf8") + "\nconst = ;\n");
  const first = await skiff(copy, ["version"]);
  assert.equal(first.code, 0, first.stderr);
  assert.match(first.stdout, new RegExp(`^skiff ${TEST_VERSION.replace(/\./g, "\\.")} `));
  assert.match(first.stderr, /could not build the bundle/);
  assert.match(first.stderr, /validate\.ts:\d+:\d+/, "the build error names the file and line");
  assert.match(first.stderr, /through tsx/);
  assert.equal(bundles(copy).length, 0);
  const second = await skiff(copy, ["version"]);
  assert.equal(second.code, 0, second.stderr);
  assert.equal(second.stderr, "", "the same failure is not retried nor reported again");

  writeFileSync(validateTs, readFileSync(path.join(REPO, "src", "cli", "commands", "validate.ts"), "utf8"));
  const skipped = await skiff(copy, ["version"], { SKIFF_NO_BUNDLE: "1" });
  assert.equal(skipped.code, 0, skipped.stderr);
  assert.equal(skipped.stderr, "");
  assert.equal(bundles(copy).length, 0, "SKIFF_NO_BUNDLE=1 builds nothing");
  assert.equal((await skiff(copy, ["version"])).code, 0);
  assert.equal(bundles(copy).length, 1, "fixed sources build again");
});

test("files found relative to the package still resolve from the bundle (ca.proto, package.json, no module-relative paths)", async (t) => {
  const copy = packageCopy(t);
  const mesh = path.join(copy, "mesh.yaml");
  writeFileSync(mesh, "");
  const caDir = path.join(copy, "ca");
  // The CA service's definition is read from src/ca/ca.proto when the TLS port starts.
  const child = spawn(process.execPath, [path.join(copy, "bin", "skiff.js"), "control-plane", "-f", mesh, "--xds-port", "0", "--monitoring-port", "0", "--xds-tls-port", "0", "--ca-dir", caDir], {
    cwd: copy,
    env: { ...process.env, SKIFF_NO_BUNDLE: "" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  t.after(() => child.kill("SIGKILL"));
  let out = "";
  const started = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), 60_000);
    const onData = (d: Buffer): void => {
      out += d.toString();
      if (/xDS and CA over TLS on/.test(out)) {
        clearTimeout(timer);
        resolve(true);
      }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve(false);
    });
  });
  child.kill("SIGTERM");
  assert.ok(started, `control plane with the CA did not start from the bundle:\n${out}`);
  assert.equal(bundles(copy).length, 1);

  // Every chunk: no path built from the chunk's own URL (it lives in node_modules/.cache,
  // not next to the sources), except the package-root helper's walk up.
  const root = path.join(copy, "node_modules", ".cache", "skiff", bundles(copy)[0]);
  const files = [path.join(root, "main.js"), ...readdirSync(path.join(root, "chunks")).filter((f) => f.endsWith(".js")).map((f) => path.join(root, "chunks", f))];
  for (const file of files) {
    const text = readFileSync(file, "utf8");
    assert.doesNotMatch(text, /new URL\(\s*["'`]\.{1,2}\//, `${path.basename(file)} resolves a relative path against its own URL`);
  }
});

test("a build prunes old bundles beyond the newest few, and leaves other files in the cache alone", async (t) => {
  const copy = packageCopy(t);
  const cache = path.join(copy, "node_modules", ".cache", "skiff");
  mkdirSync(cache, { recursive: true });
  const hourAgo = Date.now() / 1000 - 3600;
  const old = ["0", "1", "2", "3"].map((d, i) => ({ name: d.repeat(20), mtime: hourAgo - i * 60 }));
  for (const o of old) {
    mkdirSync(path.join(cache, o.name));
    writeFileSync(path.join(cache, o.name, "main.js"), "export const main = () => 0;\n");
    utimesSync(path.join(cache, o.name), o.mtime, o.mtime);
  }
  const foreign = path.join(cache, "envoy-protos-0123456789abcdef.json");
  writeFileSync(foreign, "{}");
  utimesSync(foreign, hourAgo - 3600, hourAgo - 3600);
  const r = await skiff(copy, ["version"]);
  assert.equal(r.code, 0, r.stderr);
  const left = cacheEntries(copy);
  assert.ok(left.includes(path.basename(foreign)), "the envoy room's descriptor is not the bundle's to prune");
  assert.deepEqual(
    old.map((o) => left.includes(o.name)),
    [true, true, true, false],
    "the three newest old bundles stay (a running process may still load chunks), the oldest goes",
  );
});
