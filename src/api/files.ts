// The I/O edge of the api room: reading files, directories and stdin into text for
// ./load.ts. Kept apart so everything else in the room stays pure.
import { readFile, readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import type { Diagnostic } from "./types.ts";
import { loadText } from "./load.ts";
import type { LoadResult } from "./load.ts";

const CONFIG_EXTENSIONS = [".yaml", ".yml", ".json"];

export interface LoadPathsOptions {
  /** The text to read for the path `-`; read from process.stdin when not given. */
  stdin?: string;
}

/**
 * Loads every path in order: files as they are, directories recursively (only .yaml,
 * .yml and .json files, in sorted order so results do not depend on the file system),
 * and `-` as standard input. A path that cannot be read is an error diagnostic.
 */
export async function loadPaths(paths: readonly string[], opts: LoadPathsOptions = {}): Promise<LoadResult> {
  const result: LoadResult = { resources: [], diagnostics: [] };
  const add = (part: LoadResult): void => {
    result.resources.push(...part.resources);
    result.diagnostics.push(...part.diagnostics);
  };
  for (const path of paths) {
    if (path === "-") {
      add(loadText(opts.stdin ?? (await readStdin()), "<stdin>"));
      continue;
    }
    const files = await expand(path, result.diagnostics);
    for (const file of files) {
      let text: string;
      try {
        text = await readFile(file, "utf8");
      } catch (err) {
        result.diagnostics.push(ioError(file, err));
        continue;
      }
      add(loadText(text, file));
    }
  }
  return result;
}

/** A path's config files: the path itself for a file, the config files under it for a directory. */
async function expand(path: string, diagnostics: Diagnostic[]): Promise<string[]> {
  let info;
  try {
    info = await stat(path);
  } catch (err) {
    diagnostics.push(ioError(path, err));
    return [];
  }
  if (!info.isDirectory()) return [path];
  const found: string[] = [];
  // Bounded by the directory tree itself; symlinked directories are not followed
  // (readdir's Dirent reports a symlink, not a directory), so a cycle cannot loop.
  const walk = async (dir: string): Promise<void> => {
    const entries = await readdir(dir, { withFileTypes: true });
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const entry of entries) {
      const full = join(dir, entry.name);
      if (entry.isDirectory()) await walk(full);
      else if (CONFIG_EXTENSIONS.some((ext) => entry.name.endsWith(ext))) found.push(full);
    }
  };
  await walk(path);
  if (found.length === 0) {
    diagnostics.push({ severity: "warning", path: "", message: "directory has no .yaml, .yml or .json files", file: path });
  }
  return found;
}

function ioError(file: string, err: unknown): Diagnostic {
  const code = (err as { code?: string }).code;
  const message =
    code === "ENOENT" ? "no such file or directory" : code === "EACCES" ? "permission denied" : err instanceof Error ? err.message : String(err);
  return { severity: "error", path: "", message: `cannot read: ${message}`, fix: "check the path", file };
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}
