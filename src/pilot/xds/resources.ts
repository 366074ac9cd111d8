// Turns one proxy's translation (proto3 JSON) into wire-ready resources per xDS type:
// each resource encoded once into an Any, with a content hash, so a push can tell
// exactly which resources changed. A resource that does not encode (translation
// produced a field Envoy's protos do not have) is left out and reported, and the rest
// of the proxy's config still goes out.
import { createHash } from "node:crypto";
import { EnvoyJsonError, TypeUrl, XdsTypeName, encodeAny } from "../../envoy/index.ts";
import type { EnvoyJson, EnvoyResources, TranslationProblem } from "../translate/types.ts";

export interface EncodedResource {
  name: string;
  /** The resource as JSON with "@type" (what config_dump shows). */
  json: EnvoyJson;
  any: { type_url: string; value: Buffer };
  hash: string;
}

/** Resources of one type, by name. */
export type ResourceSet = Map<string, EncodedResource>;

/** The order a push sends types in: clusters (and their endpoints) before the listeners and routes that use them. */
export const PUSH_ORDER: readonly string[] = [TypeUrl.cluster, TypeUrl.endpoint, TypeUrl.listener, TypeUrl.route, TypeUrl.secret];

const FIELDS: [keyof EnvoyResources, string, string][] = [
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
 * Encodings shared by all proxies: most proxies get byte-identical clusters and
 * endpoints, and encoding (not translation) dominates the cost of a push. Keyed by the
 * resource's JSON text; bounded by dropping everything when full (a push re-fills it).
 */
export class EncodeCache {
  readonly #entries = new Map<string, { any: { type_url: string; value: Buffer }; hash: string }>();
  constructor(private readonly maxEntries = 50_000) {}
  get(text: string): { any: { type_url: string; value: Buffer }; hash: string } | undefined {
    return this.#entries.get(text);
  }
  set(text: string, value: { any: { type_url: string; value: Buffer }; hash: string }): void {
    if (this.#entries.size >= this.maxEntries) this.#entries.clear();
    this.#entries.set(text, value);
  }
  get size(): number {
    return this.#entries.size;
  }
}

/**
 * Encodes every resource; `previous` lets unchanged JSON reuse its earlier encoding
 * (most pushes change a handful of resources out of many), `cache` shares encodings
 * between proxies.
 */
export function encodeResources(
  resources: EnvoyResources,
  previous: ReadonlyMap<string, ResourceSet> | undefined,
  cache?: EncodeCache,
): { sets: Map<string, ResourceSet>; problems: TranslationProblem[] } {
  const sets = new Map<string, ResourceSet>();
  const problems: TranslationProblem[] = [];
  for (const [field, typeUrl, nameField] of FIELDS) {
    const set: ResourceSet = new Map();
    const before = previous?.get(typeUrl);
    for (const resource of resources[field] ?? []) {
      const name = String(resource[nameField] ?? "");
      const json: EnvoyJson = { "@type": typeUrl, ...resource };
      const text = JSON.stringify(json);
      const old = before?.get(name);
      if (old && JSON.stringify(old.json) === text) {
        set.set(name, old);
        continue;
      }
      const shared = cache?.get(text);
      if (shared) {
        set.set(name, { name, json, ...shared });
        continue;
      }
      try {
        const any = encodeAny(json);
        const encoded = { any, hash: shortHash(any.value) };
        cache?.set(text, encoded);
        set.set(name, { name, json, ...encoded });
      } catch (err) {
        const message = err instanceof EnvoyJsonError ? err.message : String(err);
        problems.push({ resource: `${XdsTypeName[typeUrl as keyof typeof XdsTypeName]} ${name}`, message: `not sent, it does not encode: ${message}` });
      }
    }
    sets.set(typeUrl, set);
  }
  return { sets, problems };
}

/** The version of a set of resources: a hash of their names and contents, so equal config means equal version. */
export function versionOf(resources: Iterable<EncodedResource>): string {
  const lines = [...resources].map((r) => `${r.name}\u0000${r.hash}`).sort();
  return shortHash(lines.join("\n")).slice(0, 12);
}
