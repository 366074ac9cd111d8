// Who owns which object in a store. Several sources may feed one store (files, `skiff
// apply`, later Kubernetes); an object belongs to the first source that defined it, and
// a second definition is reported as a conflict instead of silently overwriting the
// first. When the owner lets go (file deleted, object removed), a source that also
// wanted the object takes it over.
import type { AnyResource, Diagnostic } from "../api/types.ts";
import type { ConfigStore } from "./types.ts";
import { keyOf } from "./store.ts";

/** One object a source wants in the store, and where it was defined (a file, `memory`). */
export interface Wanted {
  resource: AnyResource;
  origin: string;
}

interface Claim {
  owner: OwnedObjects;
  origin: string;
  resourceRef: { kind: AnyResource["kind"]; namespace: string; name: string };
}

/** The claim table of one store, shared by all the sources that feed it. */
class Claims {
  readonly byKey = new Map<string, Claim>();
  readonly members = new Set<OwnedObjects>();
}

const claimsByStore = new WeakMap<ConfigStore, Claims>();

function claimsOf(store: ConfigStore): Claims {
  let claims = claimsByStore.get(store);
  if (!claims) {
    claims = new Claims();
    claimsByStore.set(store, claims);
  }
  return claims;
}

/** Which source and origin owns an object of a store, if any (for messages and debugging). */
export function ownerOf(store: ConfigStore, key: string): { source: string; origin: string } | undefined {
  const claim = claimsOf(store).byKey.get(key);
  return claim && { source: claim.owner.sourceName, origin: claim.origin };
}

/**
 * The set of objects one source keeps in a store. `set(wanted)` makes the store hold
 * exactly those (minus the ones another source owns), in one batch.
 */
export class OwnedObjects {
  readonly sourceName: string;
  readonly #store: ConfigStore;
  readonly #claims: Claims;
  #wanted = new Map<string, Wanted>();
  #conflicts: Diagnostic[] = [];
  readonly #onChange: () => void;

  /** `onConflictsChange` is called when a takeover (another source letting go) changes our conflicts. */
  constructor(store: ConfigStore, sourceName: string, onConflictsChange: () => void = () => {}) {
    this.#store = store;
    this.sourceName = sourceName;
    this.#claims = claimsOf(store);
    this.#claims.members.add(this);
    this.#onChange = onConflictsChange;
  }

  /** Objects wanted but owned by another source, as diagnostics on the losing definition. */
  conflicts(): Diagnostic[] {
    return this.#conflicts;
  }

  set(wanted: ReadonlyMap<string, Wanted>): Diagnostic[] {
    this.#wanted = new Map(wanted);
    this.#reconcile();
    return this.#conflicts;
  }

  /** Forgets every object: removes the ones this source owns from the store. */
  clear(): void {
    this.set(new Map());
  }

  /** Leaves the claim table (after `clear`, when the source is gone for good). */
  detach(): void {
    this.#claims.members.delete(this);
  }

  #reconcile(): void {
    const released: string[] = [];
    const conflicts: Diagnostic[] = [];
    this.#store.batch(() => {
      for (const [key, claim] of this.#claims.byKey) {
        if (claim.owner === this && !this.#wanted.has(key)) {
          const r = claim.resourceRef;
          this.#claims.byKey.delete(key);
          this.#store.delete(r.kind, r.namespace, r.name);
          released.push(key);
        }
      }
      for (const [key, want] of this.#wanted) {
        const claim = this.#claims.byKey.get(key);
        if (claim && claim.owner !== this) {
          conflicts.push(conflictDiagnostic(want, `${claim.origin} (${claim.owner.sourceName})`));
          continue;
        }
        const r = want.resource;
        this.#claims.byKey.set(key, { owner: this, origin: want.origin, resourceRef: { kind: r.kind, namespace: r.metadata.namespace ?? "", name: r.metadata.name } });
        this.#store.upsert(r);
      }
    });
    this.#conflicts = conflicts;
    if (released.length > 0) {
      // Someone else may have been waiting for these objects.
      for (const member of [...this.#claims.members]) {
        if (member !== this && member.#wantsAny(released)) member.#takeOver();
      }
    }
  }

  #wantsAny(keys: readonly string[]): boolean {
    return keys.some((k) => this.#wanted.has(k));
  }

  #takeOver(): void {
    this.#reconcile();
    this.#onChange();
  }
}

/** The diagnostic on a definition that lost to an earlier one. */
export function conflictDiagnostic(loser: Wanted, winner: string): Diagnostic {
  const r = loser.resource;
  const pos = r.source?.fields.get("metadata.name") ?? r.source;
  return {
    severity: "error",
    path: "metadata.name",
    message: `${r.kind} ${r.metadata.namespace ? `${r.metadata.namespace}/` : ""}${r.metadata.name} is already defined in ${winner}; this definition is ignored`,
    fix: "define each object once: remove or rename one of the two",
    kind: r.kind,
    name: r.metadata.name,
    ...(r.metadata.namespace ? { namespace: r.metadata.namespace } : {}),
    ...(pos ? { file: pos.file, line: pos.line, col: pos.col } : { file: loser.origin }),
  };
}

export { keyOf };
