// MemorySource: objects put in by a program (tests, `skiff apply`) rather than read
// from files. Validation and diagnostics behave as for files: a set with errors is not
// applied and what was in effect stays; the diagnostics say why.
import type { AnyResource, Diagnostic, KindName } from "../api/index.ts";
import { resourceKey, sortDiagnostics } from "../api/index.ts";
import type { ConfigSource, ConfigStore } from "./types.ts";
import { DiagnosticsFeed, type DiagnosticsListener } from "./diagnostics-feed.ts";
import { OwnedObjects, keyOf, type Wanted } from "./ownership.ts";
import { applyDefaultNamespace, hasErrors, validateSafely } from "./prepare.ts";

export interface MemorySourceOptions {
  name?: string;
  defaultNamespace?: string;
  domain?: string;
}

export interface ApplyResult {
  /** False when the set had errors and nothing was changed. */
  applied: boolean;
  diagnostics: Diagnostic[];
}

export class MemorySource implements ConfigSource {
  readonly name: string;
  readonly #defaultNamespace: string;
  readonly #domain: string | undefined;
  readonly #owned: OwnedObjects;
  readonly #wanted = new Map<string, Wanted>();
  readonly #feed = new DiagnosticsFeed();
  #lastProblems: Diagnostic[] = [];

  constructor(store: ConfigStore, opts: MemorySourceOptions = {}) {
    this.name = opts.name ?? "memory";
    this.#defaultNamespace = opts.defaultNamespace ?? "default";
    this.#domain = opts.domain;
    this.#owned = new OwnedObjects(store, this.name, () => this.#publish());
  }

  async start(): Promise<void> {}

  async stop(): Promise<void> {}

  /**
   * Adds or updates the given objects (others this source holds stay). All or nothing:
   * with any validation error, nothing changes.
   */
  apply(resources: readonly AnyResource[]): ApplyResult {
    // Copies: the caller's objects are left as they were (the default namespace is set on ours).
    const copies = resources.map((r) => ({ ...r, metadata: { ...r.metadata } }) as AnyResource);
    applyDefaultNamespace(copies, this.#defaultNamespace);
    const problems = validateSafely(copies, this.#domain);
    if (hasErrors(problems)) {
      this.#lastProblems = problems;
      this.#publish();
      return { applied: false, diagnostics: sortDiagnostics(problems) };
    }
    for (const resource of copies) this.#wanted.set(keyOf(resource), { resource, origin: resource.source?.file ?? this.name });
    this.#owned.set(this.#wanted);
    this.#lastProblems = problems;
    const conflicts = this.#owned.conflicts().filter((d) => copies.some((r) => r.kind === d.kind && r.metadata.name === d.name && (r.metadata.namespace ?? undefined) === d.namespace));
    this.#publish();
    return { applied: true, diagnostics: sortDiagnostics([...problems, ...conflicts]) };
  }

  /** Removes objects this source holds; returns how many it held. */
  delete(refs: readonly { kind: KindName; namespace?: string; name: string }[]): number {
    let removed = 0;
    for (const ref of refs) {
      const key = resourceKey(ref.kind, ref.namespace ?? this.#defaultNamespaceFor(ref.kind), ref.name);
      if (this.#wanted.delete(key)) removed++;
    }
    this.#owned.set(this.#wanted);
    this.#publish();
    return removed;
  }

  /** Every object this source wants in the store (including ones lost to a conflict). */
  resources(): AnyResource[] {
    return [...this.#wanted.values()].map((w) => w.resource);
  }

  diagnostics(): Diagnostic[] {
    return this.#feed.current();
  }

  onDiagnostics(listener: DiagnosticsListener): () => void {
    return this.#feed.subscribe(listener);
  }

  #defaultNamespaceFor(kind: KindName): string {
    return kind === "Namespace" ? "" : this.#defaultNamespace;
  }

  #publish(): void {
    this.#feed.publish([...this.#lastProblems, ...this.#owned.conflicts()]);
  }
}
