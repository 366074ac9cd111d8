// The shared half of translation, cached at the edge: per snapshot, one push context;
// per proxy scope (translate's proxyScopeKey: same namespace, Sidecar, matched label
// selectors and the metadata that matters), one translation of the outbound side,
// encoded once. Every proxy of the scope gets those encoded sets by reference, and only
// its own part (inbound listeners, its clusters, telemetry's decoration) is translated
// per proxy. Translation stays pure; this is where its results are kept.
import { buildPushContext, proxyScopeKey, translateScoped, type PushContext } from "../translate/index.ts";
import type { MeshSnapshot, ProxyNode, TranslationProblem, TranslationResult } from "../translate/types.ts";
import { RESOURCE_FIELDS, encodeResourceList, type EncodeCache, type ResourceSet } from "./resources.ts";

export interface SharedScope {
  key: string;
  /** The scope's translation (what translateOwn completes per proxy). */
  result: TranslationResult;
  /** Its route configurations, clusters and endpoints, encoded, by type URL (listeners are per proxy: telemetry decorates them). */
  sets: ReadonlyMap<string, ResourceSet>;
  problems: TranslationProblem[];
}

export class ScopeCache {
  #snapshot: MeshSnapshot | undefined;
  #ctx: PushContext | undefined;
  readonly #scopes = new Map<string, SharedScope>();

  constructor(
    private readonly encodings: EncodeCache,
    /** Called once per scope translation (metrics, tests). */
    private readonly onTranslate: (key: string) => void = () => {},
  ) {}

  /** The push context of `snapshot`; a new snapshot drops the old scopes. */
  context(snapshot: MeshSnapshot): PushContext {
    if (snapshot !== this.#snapshot || !this.#ctx) {
      this.#snapshot = snapshot;
      this.#ctx = buildPushContext(snapshot);
      this.#scopes.clear();
      this.encodings.nextGeneration();
    }
    return this.#ctx;
  }

  /** The proxy's shared scope in `snapshot`, translated on first use; undefined when it has none (gateways, proxyless). */
  scopeOf(snapshot: MeshSnapshot, proxy: ProxyNode): SharedScope | undefined {
    const ctx = this.context(snapshot);
    const key = proxyScopeKey(ctx, proxy);
    if (key === undefined) return undefined;
    let scope = this.#scopes.get(key);
    if (!scope) {
      this.onTranslate(key);
      const result = translateScoped(ctx, proxy);
      const problems = [...result.problems];
      const sets = new Map<string, ResourceSet>();
      for (const [field, typeUrl, nameField] of RESOURCE_FIELDS) {
        if (field === "listeners") continue;
        sets.set(typeUrl, encodeResourceList(typeUrl, nameField, result.resources[field], this.encodings, problems));
      }
      scope = { key, result, sets, problems };
      this.#scopes.set(key, scope);
    }
    return scope;
  }

  get size(): number {
    return this.#scopes.size;
  }
}
