// Turns translation output (proto3 JSON) into wire-ready resources per xDS type: each
// resource encoded once into an Any, with a content hash, so a push can tell exactly
// which resources changed. Encodings are shared: between proxies (a scope's resources
// are encoded once for all its proxies, see scopes.ts; equal JSON anywhere reuses the
// same bytes through the EncodeCache) and across versions (unchanged JSON keeps its
// earlier encoding object, so "changed" is an identity check). A resource that does not
// encode (translation produced a field Envoy's protos do not have) is left out and
// reported, and the rest of the proxy's config still goes out.
import { createHash } from "node:crypto";
import { EnvoyJsonError, TypeUrl, XdsTypeName, encodeAny } from "../../envoy/index.ts";
import type { EnvoyJson, EnvoyResources, TranslationProblem } from "../translate/types.ts";

export interface EncodedResource {
  name: string;
  /** The resource as JSON with "@type" (what config_dump shows). */
  json: EnvoyJson;
  any: { type_url: string; value: Buffer };
  /** Hash of the encoded bytes: equal hash, equal resource. */
  hash: string;
}

/** Resources of one type, by name. Never mutated once built: sets are shared by reference. */
export type ResourceSet = ReadonlyMap<string, EncodedResource>;

/** The order a push sends types in: clusters (and their endpoints) before the listeners and routes that use them. */
export const PUSH_ORDER: readonly string[] = [TypeUrl.cluster, TypeUrl.endpoint, TypeUrl.listener, TypeUrl.route, TypeUrl.secret];

export const RESOURCE_FIELDS: readonly [keyof EnvoyResources, string, string][] = [
  ["listeners", TypeUrl.listener, "name"],
  ["routes", TypeUrl.route, "name"],
  ["clusters", TypeUrl.cluster, "name"],
  ["endpoints", TypeUrl.endpoint, "cluster_name"],
  ["secrets", TypeUrl.secret, "name"],
];

export function shortHash(data: string | Uint8Array): string {
  return createHash("sha256").update(data).digest("hex").slice(0, 16);
}

/**
 * Encodings by content (type and a hash of the JSON text), in two generations: what the
 * current snapshot's pushes used, and what the one before used. A new snapshot starts a
 * generation; entries the new one does not touch again are dropped at the next, so the
 * cache holds about two snapshots' worth of distinct resources whatever the number of
 * proxies (they share entries).
 */
export class EncodeCache {
  #current = new Map<string, EncodedResource>();
  #previous = new Map<string, EncodedResource>();

  get(key: string): EncodedResource | undefined {
    const hit = this.#current.get(key);
    if (hit) return hit;
    const old = this.#previous.get(key);
    if (old) this.#current.set(key, old);
    return old;
  }
  set(key: string, value: EncodedResource): void {
    this.#current.set(key, value);
  }
  nextGeneration(): void {
    this.#previous = this.#current;
    this.#current = new Map();
  }
  get size(): number {
    return this.#current.size + this.#previous.size;
  }
}

/**
 * The same JSON object (a shared outbound listener handed through to every proxy of
 * its scope) is encoded once: found by identity before its text is even produced.
 */
const byObject = new WeakMap<EnvoyJson, EncodedResource>();

/** Encodes one type's resources (see the file comment); problems collects what does not encode. */
export function encodeResourceList(typeUrl: string, nameField: string, resources: readonly EnvoyJson[], cache: EncodeCache, problems: TranslationProblem[]): Map<string, EncodedResource> {
  const set = new Map<string, EncodedResource>();
  for (const resource of resources) {
    const name = String(resource[nameField] ?? "");
    const same = byObject.get(resource);
    if (same && same.name === name && same.any.type_url === typeUrl) {
      set.set(name, same);
      continue;
    }
    const key = `${typeUrl}\u0000${shortHash(JSON.stringify(resource))}`;
    let encoded = cache.get(key);
    if (!encoded) {
      const json: EnvoyJson = { "@type": typeUrl, ...resource };
      try {
        const any = encodeAny(json);
        encoded = { name, json, any, hash: shortHash(any.value) };
        cache.set(key, encoded);
      } catch (err) {
        const message = err instanceof EnvoyJsonError ? err.message : String(err);
        problems.push({ resource: `${XdsTypeName[typeUrl as keyof typeof XdsTypeName]} ${name}`, message: `not sent, it does not encode: ${message}` });
        continue;
      }
    }
    byObject.set(resource, encoded);
    set.set(name, encoded);
  }
  return set;
}

/** Encodes every type of a translation. */
export function encodeResources(resources: EnvoyResources, cache: EncodeCache): { sets: Map<string, ResourceSet>; problems: TranslationProblem[] } {
  const sets = new Map<string, ResourceSet>();
  const problems: TranslationProblem[] = [];
  for (const [field, typeUrl, nameField] of RESOURCE_FIELDS) sets.set(typeUrl, encodeResourceList(typeUrl, nameField, resources[field] ?? [], cache, problems));
  return { sets, problems };
}

/** The version of a set of resources: a hash of their names and contents, so equal config means equal version. */
export function versionOf(resources: Iterable<EncodedResource>): string {
  const lines = [...resources].map((r) => `${r.name}\u0000${r.hash}`).sort();
  return shortHash(lines.join("\n")).slice(0, 12);
}
