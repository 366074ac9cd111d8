// Runs Skiff from an esbuild bundle of src/ instead of compiling TypeScript in every
// process: tsx's loader costs each `skiff` process ~30 MB and a few hundred ms, and a
// mesh starts many of them (control plane, one proxy per workload, agents).
//
// The bundle lives in node_modules/.cache/skiff/<signature>/, where the signature is a
// hash of the path, size and mtime of every file and folder under src/, plus
// package.json, package-lock.json, tsconfig.json (esbuild reads it) and this file. Any edit, addition or removal changes
// it, so a developer never runs a stale bundle; the check is a stat walk (~300 entries).
// Packages stay external (imported from node_modules as usual); the bundle sits inside
// the package so they resolve exactly as they do from src/. Code splitting keeps each
// command's modules in their own chunks, loaded only when that command runs.
//
// Many processes start at once (`skiff up`, parallel tests): one builds under a lock
// while the others wait for it; a bundle appears only by an atomic rename of a finished
// folder. Any failure falls back to tsx on the sources, said once on stderr; a build
// that failed for given sources is not retried for them. SKIFF_NO_BUNDLE=1 skips the
// bundle altogether. `node bin/bundle.js` builds it ahead of time (npm's postinstall).
import { createHash } from "node:crypto";
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync, writeSync } from "node:fs";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath, pathToFileURL } from "node:url";

/** The package root (this file is bin/bundle.js). */
export const PACKAGE_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

const LOCK_WAIT_MS = 120_000; // a build takes ~1-3 s; this only bounds a wedged lock
const LOCK_POLL_MS = 50;
const PRUNE_AFTER_MS = 10 * 60_000; // older bundles go, unless among the newest few
const KEEP_NEWEST = 3;

/** Where bundles are kept for the package at `root`. */
export function cacheDir(root = PACKAGE_ROOT) {
  return path.join(root, "node_modules", ".cache", "skiff");
}

/**
 * A hash of what the bundle is built from: every file and folder under src/ (path, size,
 * mtime; a folder's mtime changes when an entry is added, removed or renamed), plus the
 * package's manifest and lock file, tsconfig.json and this builder.
 */
export function sourceSignature(root = PACKAGE_ROOT) {
  const entries = [];
  const walk = (dir, rel) => {
    for (const d of readdirSync(dir, { withFileTypes: true })) {
      const abs = path.join(dir, d.name);
      const r = `${rel}/${d.name}`;
      const s = statSync(abs);
      entries.push(`${r}\0${s.size}\0${s.mtimeMs}`);
      if (s.isDirectory()) walk(abs, r);
    }
  };
  const src = path.join(root, "src");
  entries.push(`src\0${statSync(src).mtimeMs}`);
  walk(src, "src");
  for (const f of ["package.json", "package-lock.json", "tsconfig.json", "bin/bundle.js"]) {
    const abs = path.join(root, f);
    if (existsSync(abs)) {
      const s = statSync(abs);
      entries.push(`${f}\0${s.size}\0${s.mtimeMs}`);
    }
  }
  entries.sort();
  return createHash("sha256").update(entries.join("\n")).digest("hex").slice(0, 20);
}

/** Builds src/cli/main.ts into `outdir` (which must not exist yet). */
export async function buildBundle(root, outdir) {
  const esbuild = await import("esbuild");
  await esbuild.build({
    absWorkingDir: root,
    entryPoints: { main: path.join(root, "src", "cli", "main.ts") },
    outdir,
    bundle: true,
    format: "esm",
    platform: "node",
    target: "node20",
    packages: "external",
    splitting: true,
    chunkNames: "chunks/[name]-[hash]",
    // Bundling renames clashing top-level names (Foo → Foo2); keep `.name` as written,
    // since error messages and logs print class and function names.
    keepNames: true,
    // For `node --enable-source-maps` when debugging; Node ignores them otherwise.
    sourcemap: "linked",
    logLevel: "silent",
  });
}

/**
 * The path of an up-to-date bundle's entry file, building it first if needed.
 * Throws when it cannot be built (the caller falls back to tsx); `err.quiet` is set when
 * the failure was already reported by the process that tried the build.
 */
export async function ensureBundle(root = PACKAGE_ROOT) {
  const dir = cacheDir(root);
  const signature = sourceSignature(root);
  const bundleDir = path.join(dir, signature);
  const entry = path.join(bundleDir, "main.js");
  if (existsSync(entry)) return entry;
  const failedFile = path.join(dir, `${signature}.failed`);
  if (existsSync(failedFile)) throw Object.assign(new Error(readFileSync(failedFile, "utf8")), { quiet: true });
  mkdirSync(dir, { recursive: true });
  await withLock(path.join(dir, "build.lock"), async () => {
    if (existsSync(entry)) return; // built by the process that held the lock
    if (existsSync(failedFile)) throw Object.assign(new Error(readFileSync(failedFile, "utf8")), { quiet: true });
    const tmp = path.join(dir, `.tmp-${process.pid}-${Date.now()}`);
    try {
      await buildBundle(root, tmp);
    } catch (err) {
      rmSync(tmp, { recursive: true, force: true });
      const reason = describe(err);
      writeFileSync(failedFile, reason);
      throw new Error(reason);
    }
    renameSync(tmp, bundleDir);
    prune(dir, signature);
  });
  return entry;
}

/**
 * The CLI's `main`, from the bundle, or from the sources through tsx when SKIFF_NO_BUNDLE=1
 * or the bundle cannot be had.
 */
export async function loadMain(root = PACKAGE_ROOT, env = process.env) {
  if (env.SKIFF_NO_BUNDLE !== "1") {
    let entry;
    try {
      entry = await ensureBundle(root);
    } catch (err) {
      if (!err.quiet) process.stderr.write(`skiff: could not build the bundle of src/ (${firstLines(describe(err))}); running the sources through tsx instead\n`);
    }
    if (entry) {
      try {
        return (await import(pathToFileURL(entry).href)).main;
      } catch (err) {
        process.stderr.write(`skiff: could not load the bundle ${entry} (${firstLines(describe(err))}); running the sources through tsx instead\n`);
      }
    }
  }
  const { register } = await import("tsx/esm/api");
  register();
  return (await import(pathToFileURL(path.join(root, "src", "cli", "main.ts")).href)).main;
}

/** Runs `fn` holding an exclusive lock file (O_EXCL); waits for, or breaks, another holder's. */
async function withLock(lockFile, fn) {
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    let fd;
    try {
      fd = openSync(lockFile, "wx");
    } catch (err) {
      if (err.code !== "EEXIST") throw err;
      if (lockIsAbandoned(lockFile)) rmSync(lockFile, { force: true });
      else if (Date.now() > deadline) throw new Error(`timed out after ${LOCK_WAIT_MS / 1000} s waiting for ${lockFile} (remove it if no skiff build is running)`);
      else await sleep(LOCK_POLL_MS);
      continue;
    }
    try {
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return await fn();
    } finally {
      rmSync(lockFile, { force: true });
    }
  }
}

/** A lock whose holder has died (a killed build) or that outlived any real build. */
function lockIsAbandoned(lockFile) {
  try {
    const pid = Number(readFileSync(lockFile, "utf8"));
    if (Date.now() - statSync(lockFile).mtimeMs > LOCK_WAIT_MS) return true;
    if (!Number.isInteger(pid) || pid <= 0) return false; // being written right now
    process.kill(pid, 0);
    return false;
  } catch (err) {
    return err.code === "ESRCH"; // no such process; ENOENT (just released) → retry
  }
}

/** Removes bundles (and failure marks) of older sources; keeps the newest few for processes still running. */
function prune(dir, current) {
  const now = Date.now();
  // Only what this file makes: bundles (<signature>/), failure marks, temporary folders.
  // Other tenants of the cache folder (the envoy room's descriptor) are left alone.
  const ours = (n) => /^[0-9a-f]{20}(\.failed)?$/.test(n) || n.startsWith(".tmp-");
  const entries = readdirSync(dir)
    .filter((n) => n !== current && ours(n))
    .map((n) => ({ n, mtime: statSync(path.join(dir, n)).mtimeMs }))
    .sort((a, b) => b.mtime - a.mtime);
  entries.forEach(({ n, mtime }, i) => {
    const old = now - mtime > PRUNE_AFTER_MS;
    if (old && (i >= KEEP_NEWEST || n.endsWith(".failed") || n.startsWith(".tmp-"))) rmSync(path.join(dir, n), { recursive: true, force: true });
  });
}

function describe(err) {
  if (err && Array.isArray(err.errors) && err.errors.length) {
    // esbuild's errors: file:line:col and text, as a developer needs them
    return err.errors.map((e) => (e.location ? `${e.location.file}:${e.location.line}:${e.location.column}: ${e.text}` : e.text)).join("\n");
  }
  return err instanceof Error ? err.message : String(err);
}

function firstLines(text) {
  const lines = text.split("\n");
  return lines.length > 3 ? `${lines.slice(0, 3).join("; ")}; ...` : lines.join("; ");
}

// `node bin/bundle.js`: build now (postinstall), never failing the install.
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    const t0 = Date.now();
    const entry = await ensureBundle();
    process.stdout.write(`skiff: bundle ready (${path.relative(PACKAGE_ROOT, entry)}, ${Date.now() - t0} ms)\n`);
  } catch (err) {
    process.stderr.write(`skiff: could not build the bundle (${firstLines(describe(err))}); skiff will run its sources through tsx\n`);
  }
}
