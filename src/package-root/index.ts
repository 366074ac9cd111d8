// Where Skiff's own files are (package.json, bin/, samples/, native/, src/ca/ca.proto).
// A module's own URL says nothing reliable about that: from sources it is src/<room>/x.ts,
// from the bundle (bin/bundle.js) it is a chunk in node_modules/.cache/skiff/<hash>/.
// Both sit below the package root, so walking up to the package.json named "skiff" finds
// it either way.
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const PACKAGE_NAME = "skiff";
let cached: string | undefined;

/** The directory holding Skiff's package.json (found once per process). */
export function packageRoot(): string {
  if (cached) return cached;
  const start = path.dirname(fileURLToPath(import.meta.url));
  let dir = start;
  for (let depth = 0; depth < 64; depth++) {
    if (isSkiffPackage(path.join(dir, "package.json"))) return (cached = dir);
    const parent = path.dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  throw new Error(`skiff: no package.json named "${PACKAGE_NAME}" in ${start} or any folder above it; run skiff from its checkout or installed package`);
}

/** A path inside the package, e.g. packagePath("samples", "sentiment"). */
export function packagePath(...segments: string[]): string {
  return path.join(packageRoot(), ...segments);
}

function isSkiffPackage(file: string): boolean {
  try {
    return (JSON.parse(readFileSync(file, "utf8")) as { name?: unknown }).name === PACKAGE_NAME;
  } catch {
    return false; // absent or not JSON: keep walking
  }
}
