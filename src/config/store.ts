// MemoryStore: the one ConfigStore implementation. Objects are keyed by kind, namespace
// and name; every effective change bumps one store-wide version, stamps the object's
// resourceVersion with it, and is announced to watchers. Changes made inside one
// `batch` are announced together, so a file that changes ten objects causes one
// rebuild downstream, not ten.
import type { AnyResource, KindName, Resource, SourcePosition } from "../api/types.ts";
import { resourceKey } from "../api/types.ts";
import type { ConfigChange, ConfigStore } from "./types.ts";
import { sameContent } from "./equality.ts";

type Listener = (changes: ConfigChange[]) => void;

export class MemoryStore implements ConfigStore {
  #version = 0;
  readonly #objects = new Map<string, AnyResource>();
  readonly #listeners = new Set<Listener>();
  /** Sorted view of #objects, rebuilt lazily after a change. */
  #sorted: AnyResource[] | undefined;
  #batchDepth = 0;
  #pending: ConfigChange[] = [];

  get version(): number {
    return this.#version;
  }

  get<K extends KindName>(kind: K, namespace: string, name: string): Resource<K> | undefined {
    return this.#objects.get(resourceKey(kind, namespace, name)) as Resource<K> | undefined;
  }

  list<K extends KindName>(kind: K, namespace?: string): Resource<K>[] {
    return this.all().filter(
      (r): r is Resource<K> & AnyResource => r.kind === kind && (namespace === undefined || (r.metadata.namespace ?? "") === namespace),
    );
  }

  all(): AnyResource[] {
    this.#sorted ??= [...this.#objects.values()].sort(compareResources);
    return [...this.#sorted];
  }

  upsert(resource: AnyResource): AnyResource {
    const key = keyOf(resource);
    const existing = this.#objects.get(key);
    if (existing && sameContent(existing, resource)) {
      // Nothing a consumer reads has changed. Only the position in its file may have
      // moved (a comment added above it); keep the new position for diagnostics,
      // silently, without a version bump or an event.
      if (resource.source && !samePosition(resource.source, existing.source)) {
        const moved = freeze({ ...clone(existing), source: clone(resource.source) } as AnyResource);
        this.#objects.set(key, moved);
        this.#sorted = undefined;
        return moved;
      }
      return existing;
    }
    const version = ++this.#version;
    const stored = clone(resource);
    stored.metadata.resourceVersion = String(version);
    if (stored.metadata.generation === undefined || existing) {
      stored.metadata.generation = (existing?.metadata.generation ?? 0) + 1;
    }
    freeze(stored);
    this.#objects.set(key, stored);
    this.#sorted = undefined;
    this.#emit({ type: existing ? "updated" : "added", resource: stored, version });
    return stored;
  }

  delete(kind: KindName, namespace: string, name: string): boolean {
    const key = resourceKey(kind, namespace, name);
    const existing = this.#objects.get(key);
    if (!existing) return false;
    this.#objects.delete(key);
    this.#sorted = undefined;
    const version = ++this.#version;
    this.#emit({ type: "deleted", resource: existing, version });
    return true;
  }

  /**
   * Runs `fn`, announcing all the changes it makes as one list afterwards. Batches nest;
   * the outermost one announces. Watchers never see a half-applied batch.
   */
  batch<T>(fn: () => T): T {
    this.#batchDepth++;
    try {
      return fn();
    } finally {
      this.#batchDepth--;
      if (this.#batchDepth === 0) this.#flush();
    }
  }

  watch(listener: Listener): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  #emit(change: ConfigChange): void {
    this.#pending.push(change);
    if (this.#batchDepth === 0) this.#flush();
  }

  #flush(): void {
    if (this.#pending.length === 0) return;
    const changes = this.#pending;
    this.#pending = [];
    for (const listener of [...this.#listeners]) {
      try {
        listener(changes);
      } catch (err) {
        // One broken watcher must not stop the others from hearing about the change.
        console.error(`config store watcher failed: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  }
}

function samePosition(a: SourcePosition, b: SourcePosition | undefined): boolean {
  return b !== undefined && a.file === b.file && a.line === b.line && a.col === b.col;
}

export function keyOf(resource: AnyResource): string {
  return resourceKey(resource.kind, resource.metadata.namespace ?? "", resource.metadata.name);
}

/** Kind, then namespace, then name: the order `all()` promises. */
export function compareResources(a: AnyResource, b: AnyResource): number {
  return (
    compareStrings(a.kind, b.kind) ||
    compareStrings(a.metadata.namespace ?? "", b.metadata.namespace ?? "") ||
    compareStrings(a.metadata.name, b.metadata.name)
  );
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Stored objects are private copies: a caller mutating what it passed in changes nothing. */
function clone<T>(value: T): T {
  return structuredClone(value);
}

/** Readers share stored objects, so they are frozen to make an accidental write fail loudly. */
function freeze<T>(value: T): T {
  if (value === null || typeof value !== "object" || Object.isFrozen(value)) return value;
  if (value instanceof Map) return value; // source.fields: positions only, never written after load
  for (const child of Object.values(value)) freeze(child);
  return Object.freeze(value);
}
