// FileSource: keeps the objects of YAML/JSON files and directories in a store, and
// keeps them current while the files change.
//
// - Directories are read recursively (.yaml, .yml, .json; hidden files skipped, since
//   editors keep their swap and backup files there); files named explicitly are read
//   whatever their extension.
// - Watching uses node:fs watch on *directories* (the parent directory of a file named
//   explicitly): editors that save by writing a new file and renaming it over the old
//   one replace the inode a file watch would be holding, a directory watch sees both.
//   Any event schedules a debounced rescan; a rescan re-reads every file, and only the
//   files whose text changed are parsed again.
// - A file that turns invalid (YAML or validation errors) keeps its last valid objects
//   in the store and reports its diagnostics; fixing it clears them. A deleted file, or
//   an object removed from a file, removes its objects.
// - Two files defining one object: the first keeps it (the one that already had it,
//   else the first in path order), the other gets a conflict diagnostic.
import { watch, type FSWatcher } from "node:fs";
import { readdir, readFile, stat } from "node:fs/promises";
import { dirname, extname, join, resolve } from "node:path";
import { loadText } from "../api/index.ts";
import type { AnyResource, Diagnostic } from "../api/index.ts";
import type { ConfigSource, ConfigStore } from "./types.ts";
import { DiagnosticsFeed, type DiagnosticsListener } from "./diagnostics-feed.ts";
import { OwnedObjects, conflictDiagnostic, keyOf, type Wanted } from "./ownership.ts";
import { applyDefaultNamespace, hasErrors, validateSafely } from "./prepare.ts";

export interface FileSourceOptions {
  /** Namespace given to namespaced objects that do not name one. */
  defaultNamespace?: string;
  /** Quiet time after a file event before rescanning; editors write in bursts. */
  debounceMs?: number;
  /** DNS domain for validation (`cluster.local`). */
  domain?: string;
}

const CONFIG_EXTENSIONS = new Set([".yaml", ".yml", ".json"]);

interface FileState {
  text: string;
  /** Parse result of `text` (resources with the default namespace applied). */
  parsed: AnyResource[];
  parseDiagnostics: Diagnostic[];
  /** The objects of the last version of this file that was valid, if any. */
  lastValid?: AnyResource[];
}

export class FileSource implements ConfigSource {
  readonly name: string;
  readonly #paths: string[];
  readonly #defaultNamespace: string;
  readonly #debounceMs: number;
  readonly #domain: string | undefined;
  readonly #owned: OwnedObjects;
  readonly #files = new Map<string, FileState>();
  readonly #watchers = new Map<string, FSWatcher>();
  readonly #feed = new DiagnosticsFeed();
  #fileDiagnostics: Diagnostic[] = [];
  /** Which file each object in the store came from. */
  #origins = new Map<string, string>();
  #timer: NodeJS.Timeout | undefined;
  #scanning: Promise<void> | undefined;
  #rescanAgain = false;
  #started = false;

  constructor(store: ConfigStore, paths: readonly string[], opts: FileSourceOptions = {}) {
    this.#paths = paths.map((p) => resolve(p));
    this.name = `files:${paths.join(",")}`;
    this.#defaultNamespace = opts.defaultNamespace ?? "default";
    this.#debounceMs = opts.debounceMs ?? 50;
    this.#domain = opts.domain;
    this.#owned = new OwnedObjects(store, this.name, () => this.#publishDiagnostics());
  }

  /** Loads every file once, then watches. Problems are diagnostics, never exceptions. */
  async start(): Promise<void> {
    this.#started = true;
    await this.rescan();
  }

  async stop(): Promise<void> {
    this.#started = false;
    clearTimeout(this.#timer);
    for (const w of this.#watchers.values()) w.close();
    this.#watchers.clear();
    await this.#scanning;
  }

  diagnostics(): Diagnostic[] {
    return this.#feed.current();
  }

  onDiagnostics(listener: DiagnosticsListener): () => void {
    return this.#feed.subscribe(listener);
  }

  /** Re-reads the files now (what a file event does after the debounce). Scans never overlap. */
  rescan(): Promise<void> {
    if (this.#scanning) {
      this.#rescanAgain = true;
      return this.#scanning;
    }
    this.#scanning = (async () => {
      try {
        do {
          this.#rescanAgain = false;
          await this.#scanOnce();
        } while (this.#rescanAgain);
      } finally {
        this.#scanning = undefined;
      }
    })();
    return this.#scanning;
  }

  #schedule(): void {
    if (!this.#started) return;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => void this.rescan(), this.#debounceMs);
  }

  async #scanOnce(): Promise<void> {
    const pathProblems: Diagnostic[] = [];
    const { files, dirs } = await this.#list(pathProblems);
    // Forget files that are gone; read the others.
    for (const file of [...this.#files.keys()]) if (!files.includes(file)) this.#files.delete(file);
    const readProblems = new Map<string, Diagnostic>();
    for (const file of files) {
      let text: string;
      try {
        text = await readFile(file, "utf8");
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === "ENOENT") {
          this.#files.delete(file); // removed between listing and reading
          continue;
        }
        readProblems.set(file, { severity: "error", path: "", message: `cannot read file: ${errorMessage(err)}`, fix: "check the file's permissions", file });
        continue;
      }
      const state = this.#files.get(file);
      if (state && state.text === text) continue;
      const loaded = loadText(text, file);
      applyDefaultNamespace(loaded.resources, this.#defaultNamespace);
      this.#files.set(file, { text, parsed: loaded.resources, parseDiagnostics: loaded.diagnostics, lastValid: state?.lastValid });
    }
    if (this.#started) this.#syncWatchers(dirs);
    this.#apply(pathProblems, readProblems);
  }

  /** Validates every file's current text together and puts the valid objects in the store. */
  #apply(pathProblems: Diagnostic[], readProblems: Map<string, Diagnostic>): void {
    const parsedOk = [...this.#files.entries()].filter(([f, s]) => !readProblems.has(f) && !hasErrors(s.parseDiagnostics));
    // Validated together, so that checks across objects (a route to a host defined in
    // another file) see the whole picture.
    const validation = validateSafely(
      parsedOk.flatMap(([, s]) => s.parsed),
      this.#domain,
    );
    const byFile = new Map<string, Diagnostic[]>();
    for (const d of validation) {
      const list = byFile.get(d.file ?? "") ?? [];
      list.push(d);
      byFile.set(d.file ?? "", list);
    }
    const fileDiagnostics: Diagnostic[] = [...pathProblems, ...readProblems.values(), ...(byFile.get("") ?? [])];
    const sorted = [...this.#files.keys()].sort();
    for (const file of sorted) {
      const state = this.#files.get(file)!;
      if (readProblems.has(file)) continue;
      const problems = [...state.parseDiagnostics, ...(byFile.get(file) ?? [])];
      fileDiagnostics.push(...problems);
      if (!hasErrors(problems)) state.lastValid = state.parsed;
      else if (state.lastValid) {
        fileDiagnostics.push({
          severity: "warning",
          path: "",
          message: "the file has errors; its last valid version stays in effect",
          fix: "fix the errors reported for this file and save it again",
          file,
        });
      }
    }
    // Which file's definition of each object wins: the file that has it now, if it still
    // defines it, else the first file in path order.
    const candidates: Wanted[] = sorted.flatMap((file) => (this.#files.get(file)!.lastValid ?? []).map((resource) => ({ resource, origin: file })));
    const wanted = new Map<string, Wanted>();
    for (const c of candidates) if (this.#origins.get(keyOf(c.resource)) === c.origin && !wanted.has(keyOf(c.resource))) wanted.set(keyOf(c.resource), c);
    const losers: Diagnostic[] = [];
    for (const c of candidates) {
      const key = keyOf(c.resource);
      const current = wanted.get(key);
      if (!current) wanted.set(key, c);
      else if (current !== c) {
        const winner = current.origin === c.origin ? `an earlier document of ${current.origin}` : current.origin;
        losers.push(conflictDiagnostic(c, winner));
      }
    }
    this.#origins = new Map([...wanted].map(([key, w]) => [key, w.origin]));
    this.#owned.set(wanted);
    this.#fileDiagnostics = [...fileDiagnostics, ...losers];
    this.#publishDiagnostics();
  }

  #publishDiagnostics(): void {
    this.#feed.publish([...this.#fileDiagnostics, ...this.#owned.conflicts()]);
  }

  /** Every config file under the paths, sorted, and the directories to watch. */
  async #list(problems: Diagnostic[]): Promise<{ files: string[]; dirs: string[] }> {
    const files = new Set<string>();
    const dirs = new Set<string>();
    for (const path of this.#paths) {
      const info = await stat(path).catch(() => undefined);
      if (!info) {
        problems.push({ severity: "error", path: "", message: "no such file or directory", fix: "check the path; Skiff picks the file up when it appears", file: path });
        dirs.add(dirname(path)); // so that the file is noticed when it is created
        continue;
      }
      if (info.isDirectory()) await walk(path, files, dirs);
      else {
        files.add(path);
        dirs.add(dirname(path));
      }
    }
    return { files: [...files].sort(), dirs: [...dirs].sort() };
  }

  #syncWatchers(dirs: readonly string[]): void {
    for (const [dir, w] of this.#watchers) {
      if (!dirs.includes(dir)) {
        w.close();
        this.#watchers.delete(dir);
      }
    }
    for (const dir of dirs) {
      if (this.#watchers.has(dir)) continue;
      try {
        const w = watch(dir, { persistent: true }, () => this.#schedule());
        // A watched directory that disappears errors out; the next scan re-lists.
        w.on("error", () => {
          w.close();
          this.#watchers.delete(dir);
          this.#schedule();
        });
        this.#watchers.set(dir, w);
        // A file written between our reading the directory and watching it raised no
        // event we could hear: look once more.
        this.#schedule();
      } catch {
        // The directory vanished between listing and watching: a later event or scan fixes it.
      }
    }
  }
}

async function walk(dir: string, files: Set<string>, dirs: Set<string>): Promise<void> {
  dirs.add(dir);
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  for (const entry of entries) {
    if (entry.name.startsWith(".")) continue;
    const full = join(dir, entry.name);
    let isDir = entry.isDirectory();
    let isFile = entry.isFile();
    if (entry.isSymbolicLink()) {
      const target = await stat(full).catch(() => undefined);
      isDir = target?.isDirectory() ?? false;
      isFile = target?.isFile() ?? false;
    }
    if (isDir) await walk(full, files, dirs);
    else if (isFile && CONFIG_EXTENSIONS.has(extname(entry.name).toLowerCase())) files.add(full);
  }
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

