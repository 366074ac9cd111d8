// Builds the SO_ORIGINAL_DST addon (netns mode only) with node-gyp against the
// headers of the running Node, so no header download is needed (the workplace has no
// network beyond package registries). `--optional`: a failure is reported and the
// install goes on — process mode never needs the addon, and the proxy falls back to
// the socket's local address without it.
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const optional = process.argv.includes("--optional");

function nodeGypScript() {
  // npm ships node-gyp; prefer a project-local one if someone installed it.
  const require = createRequire(join(here, "..", "package.json"));
  try { return require.resolve("node-gyp/bin/node-gyp.js"); } catch { /* fall through */ }
  const npmDir = resolve(dirname(process.execPath), "..", "lib", "node_modules", "npm");
  const bundled = join(npmDir, "node_modules", "node-gyp", "bin", "node-gyp.js");
  return existsSync(bundled) ? bundled : undefined;
}

function nodeDir() {
  // An install prefix whose include/node has the headers of this very Node.
  const prefix = resolve(dirname(process.execPath), "..");
  return existsSync(join(prefix, "include", "node", "node_api.h")) ? prefix : undefined;
}

function fail(message) {
  const text = `skiff: the SO_ORIGINAL_DST addon was not built: ${message}\n` +
    "  netns mode needs it to know where a captured connection was going; process mode does not.\n" +
    "  To build it: install a C compiler, make and python3, then run `npm run build:native`.\n";
  process.stderr.write(text);
  process.exit(optional ? 0 : 1);
}

if (process.platform !== "linux") {
  if (optional) process.exit(0);
  fail("SO_ORIGINAL_DST exists only on Linux");
}
const gyp = nodeGypScript();
if (!gyp) fail("node-gyp was not found (it ships with npm)");
const dir = nodeDir();
const args = [gyp, "rebuild", "--directory", here, ...(dir ? [`--nodedir=${dir}`] : [])];
try {
  execFileSync(process.execPath, args, { stdio: optional ? ["ignore", "ignore", "pipe"] : "inherit" });
} catch (err) {
  // node-gyp's first "stack Error" line says what is missing (make, python, a compiler).
  const lines = err && err.stderr ? String(err.stderr).trim().split("\n") : [];
  const stack = lines.filter((l) => /ERR! stack Error/.test(l));
  const cause = (stack.length ? stack : lines.filter((l) => /ERR! configure error/.test(l))).slice(0, 2);
  const stderr = (cause.length ? cause : lines.slice(-5)).join("\n  ");
  fail(`node-gyp failed${stderr ? `:\n  ${stderr}` : ""}`);
}
if (!optional) process.stdout.write(`built ${join(here, "build", "Release", "skiff_original_dst.node")}\n`);
