// The config store's contract. Sources (files, memory, later Kubernetes) feed a store;
// rooms downstream list, get and watch it. No Envoy knowledge here.
import type { AnyResource, Diagnostic, KindName, Resource } from "../api/types.ts";

export type ChangeType = "added" | "updated" | "deleted";

export interface ConfigChange {
  type: ChangeType;
  /** The object as it is now (for "deleted": as it was last). */
  resource: AnyResource;
  /** Store-wide version after this change. */
  version: number;
}

export interface ConfigStore {
  /** Monotonic store-wide version; increases on every effective change. */
  readonly version: number;
  get<K extends KindName>(kind: K, namespace: string, name: string): Resource<K> | undefined;
  list<K extends KindName>(kind: K, namespace?: string): Resource<K>[];
  /** Every object, in a deterministic order (kind, namespace, name). */
  all(): AnyResource[];
  /** Adds or updates; returns the stored object (with resourceVersion set). */
  upsert(resource: AnyResource): AnyResource;
  delete(kind: KindName, namespace: string, name: string): boolean;
  /** Runs `fn`; the changes it makes reach watchers as one list when it returns. */
  batch<T>(fn: () => T): T;
  /** Subscribes to changes; returns the function that unsubscribes. */
  watch(listener: (changes: ConfigChange[]) => void): () => void;
}

/**
 * A source owns a set of objects in a store and keeps them current (files re-read on
 * change, a Kubernetes informer, ...). Problems it finds are reported, never thrown
 * past `start`: an invalid file keeps its last valid objects in the store.
 */
export interface ConfigSource {
  readonly name: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Current problems of this source (validation errors of its files, ...). */
  diagnostics(): Diagnostic[];
  onDiagnostics(listener: (diagnostics: Diagnostic[]) => void): () => void;
}
