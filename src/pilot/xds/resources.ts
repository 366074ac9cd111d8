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
 * Encodes every resource; `previous` lets unchanged JSON reuse its earlier encoding
 * (most pushes change a handful of resources out of many).
 */
export function encodeResources(
  resources: EnvoyResources,
  previous: ReadonlyMap<string, ResourceSet> | undefined,
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
      try {
        const any = encodeAny(json);
        set.set(name, { name, json, any, hash: shortHash(any.value) });
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
