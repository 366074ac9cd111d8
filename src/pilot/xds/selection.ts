// What one response of one watch describes: a proxy's resources of a type (its scope's
// shared set and its own), narrowed to the names it subscribed to. Selections are
// immutable and, for the shared part, memoized per (shared set, name set): the 2,000
// proxies of one scope subscribing to the same 1,400 EDS names share one selection,
// one version computation and one "what changed since" answer, instead of each
// walking 1,400 names per push. Subscribed name sets are interned for the same reason
// (and so that equal subscriptions are held once in memory).
import { shortHash, versionOf, type EncodedResource, type ResourceSet } from "./resources.ts";

/** Subscribed names (interned: equal lists are one object). */
export type NameSet = ReadonlySet<string>;

/** A proxy's resources of one type: shared with its scope (by reference) and its own. */
export interface TypeResources {
  shared?: ResourceSet;
  own: ResourceSet;
}

const EMPTY: ResourceSet = new Map();

/** The part of a selection taken from a shared set: computed once, used by every proxy. */
class SharedSelection {
  readonly list: readonly EncodedResource[];
  readonly version: string;
  readonly #diffs = new WeakMap<SharedSelection, readonly EncodedResource[]>();
  #byName: ResourceSet | undefined;
  constructor(
    readonly set: ResourceSet,
    readonly names: NameSet | undefined,
  ) {
    this.list = names === undefined ? [...set.values()] : [...names].flatMap((n) => set.get(n) ?? []);
    this.version = versionOf(this.list);
  }
  /** A selected resource by name. */
  get(name: string): EncodedResource | undefined {
    if (this.names === undefined) return this.set.get(name);
    this.#byName ??= new Map(this.list.map((r) => [r.name, r]));
    return this.#byName.get(name);
  }
  /** Resources here that `prev` does not hold with the same content (memoized per pair). */
  changedSince(prev: SharedSelection): readonly EncodedResource[] {
    let diff = this.#diffs.get(prev);
    if (!diff) {
      diff = this.list.filter((r) => prev.get(r.name) !== r && prev.get(r.name)?.hash !== r.hash);
      this.#diffs.set(prev, diff);
    }
    return diff;
  }
}

const WILDCARD: object = {};
const sharedSelections = new WeakMap<ResourceSet, WeakMap<object, SharedSelection>>();

function sharedSelection(set: ResourceSet, names: NameSet | undefined): SharedSelection {
  let byNames = sharedSelections.get(set);
  if (!byNames) {
    byNames = new WeakMap();
    sharedSelections.set(set, byNames);
  }
  const key = names ?? WILDCARD;
  let sel = byNames.get(key);
  if (!sel) {
    sel = new SharedSelection(set, names);
    byNames.set(key, sel);
  }
  return sel;
}

export class Selection {
  readonly version: string;
  readonly #ownByName: ResourceSet;

  private constructor(
    readonly shared: SharedSelection | undefined,
    readonly own: readonly EncodedResource[],
  ) {
    this.#ownByName = own.length ? new Map(own.map((r) => [r.name, r])) : EMPTY;
    const ownVersion = versionOf(own);
    this.version = !shared ? ownVersion : own.length === 0 ? shared.version : shortHash(`${shared.version}\n${ownVersion}`).slice(0, 12);
  }

  /** `names` undefined: everything (a wildcard subscription). */
  static of(resources: TypeResources | undefined, names: NameSet | undefined): Selection {
    const shared = resources?.shared && resources.shared.size > 0 ? sharedSelection(resources.shared, names) : undefined;
    const own = resources?.own ?? EMPTY;
    let mine: EncodedResource[];
    if (names === undefined) mine = [...own.values()];
    else if (own.size <= names.size) mine = [...own.values()].filter((r) => names.has(r.name));
    else mine = [...names].flatMap((n) => own.get(n) ?? []);
    return new Selection(shared, mine);
  }

  get size(): number {
    return (this.shared?.list.length ?? 0) + this.own.length;
  }

  get(name: string): EncodedResource | undefined {
    return this.#ownByName.get(name) ?? this.shared?.get(name);
  }

  *[Symbol.iterator](): IterableIterator<EncodedResource> {
    if (this.shared) yield* this.shared.list;
    yield* this.own;
  }

  /** Every resource, as a response carries them. */
  all(): EncodedResource[] {
    return this.shared ? [...this.shared.list, ...this.own] : [...this.own];
  }

  /** What a proxy holding `prev` lacks or holds in another version (RDS/EDS incremental responses). */
  changedSince(prev: Selection | undefined): EncodedResource[] {
    if (!prev) return this.all();
    const out: EncodedResource[] = [];
    if (this.shared) {
      if (prev.shared && prev.own.length === 0) out.push(...this.shared.changedSince(prev.shared));
      else for (const r of this.shared.list) if (prev.get(r.name)?.hash !== r.hash) out.push(r);
    }
    for (const r of this.own) if (prev.get(r.name)?.hash !== r.hash) out.push(r);
    return out;
  }
}

/**
 * Interned name sets: a subscription equal to one seen before is that same object.
 * Held weakly (a set no connection uses any more goes away); the table is swept when it
 * has doubled since the last sweep.
 */
export class NameSets {
  readonly #byKey = new Map<string, WeakRef<NameSet>>();
  #sweepAt = 64;

  intern(names: Iterable<string>): NameSet {
    const sorted = [...new Set(names)].sort();
    const key = sorted.join("\n");
    const known = this.#byKey.get(key)?.deref();
    if (known) return known;
    const set: NameSet = new Set(sorted);
    this.#byKey.set(key, new WeakRef(set));
    if (this.#byKey.size >= this.#sweepAt) {
      for (const [k, ref] of this.#byKey) if (!ref.deref()) this.#byKey.delete(k);
      this.#sweepAt = Math.max(64, this.#byKey.size * 2);
    }
    return set;
  }
}
