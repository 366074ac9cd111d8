// Registry: the I/O edge of the registry room. It watches a config store and keeps a
// current RegistrySnapshot, rebuilt (cheaply, synchronously) when an object that feeds
// the registry changes; listeners hear only about snapshots that actually differ.
import { isDeepStrictEqual } from "node:util";
import type { ConfigChange, ConfigStore } from "../config/index.ts";
import type { RegistrySnapshot } from "./types.ts";
import { buildRegistry } from "./build.ts";

/** Kinds whose objects make up the registry; changes to others cannot change it. */
const REGISTRY_KINDS: ReadonlySet<string> = new Set(["Service", "ServiceEntry", "WorkloadEntry"]);

export interface RegistryOptions {
  domain?: string;
}

type Listener = (snapshot: RegistrySnapshot) => void;

export class Registry {
  readonly #store: ConfigStore;
  readonly #domain: string;
  readonly #listeners = new Set<Listener>();
  readonly #unwatch: () => void;
  #snapshot: RegistrySnapshot;

  constructor(store: ConfigStore, opts: RegistryOptions = {}) {
    this.#store = store;
    this.#domain = opts.domain ?? "cluster.local";
    this.#snapshot = this.#build();
    this.#unwatch = store.watch((changes) => this.#onChanges(changes));
  }

  snapshot(): RegistrySnapshot {
    return this.#snapshot;
  }

  /** Calls `listener` with each new snapshot; returns the function that unsubscribes. */
  onChange(listener: Listener): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  close(): void {
    this.#unwatch();
    this.#listeners.clear();
  }

  #build(): RegistrySnapshot {
    const relevant = this.#store.all().filter((r) => REGISTRY_KINDS.has(r.kind));
    return buildRegistry(relevant, { domain: this.#domain, version: this.#store.version });
  }

  #onChanges(changes: readonly ConfigChange[]): void {
    if (!changes.some((c) => REGISTRY_KINDS.has(c.resource.kind))) return;
    const next = this.#build();
    const previous = this.#snapshot;
    if (isDeepStrictEqual(next.services, previous.services) && isDeepStrictEqual(next.endpoints, previous.endpoints)) return;
    this.#snapshot = next;
    for (const listener of [...this.#listeners]) {
      try {
        listener(next);
      } catch (err) {
        console.error(`registry listener failed: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  }
}
