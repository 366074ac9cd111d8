// Where a jwt_authn provider gets its keys: inline (local_jwks) or fetched over HTTP
// (remote_jwks). A remote JWKS is fetched on demand — the first request that needs it
// waits for it, as Envoy does without async_fetch — and kept for cache_duration; a
// request after that fetches again. A fetch that fails is logged and counted, and the
// request gets 401: an unverifiable token never passes. The fetch goes through the
// cluster `http_uri.cluster` names (./jwt-fetch.ts), as Envoy's does.
import { importJWK, type CryptoKey, type JWK } from "jose";
import { ConfigError, durationMs, obj, onlyFields, str, type Json } from "../json.ts";
import type { Counter } from "../stats.ts";
import type { ClusterManagerApi } from "../upstream/index.ts";
import { fetchJwksText } from "./jwt-fetch.ts";

/** One usable key of a JWKS, with its JOSE key objects imported lazily per algorithm. */
export interface JwksKey {
  jwk: JWK;
  imported: Map<string, Promise<CryptoKey | Uint8Array>>;
}

export interface KeySet {
  keys: JwksKey[];
}

/** Parse a JWKS document; throws an Error saying what is wrong. */
export function parseJwks(text: string): KeySet {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new Error("JWKS is not valid JSON");
  }
  const list = obj(doc)?.keys;
  if (!Array.isArray(list)) throw new Error('JWKS has no "keys" array');
  const keys = list
    .filter((k): k is JWK => obj(k) !== undefined && typeof (k as JWK).kty === "string")
    // Keys marked for encryption only are not for verifying signatures.
    .filter((k) => k.use === undefined || k.use === "sig")
    .map((jwk) => ({ jwk, imported: new Map<string, Promise<CryptoKey | Uint8Array>>() }));
  if (keys.length === 0) throw new Error("JWKS doesn't have valid keys");
  return { keys };
}

/** The key object for verifying `alg` with this JWK (imported once per algorithm). */
export function keyFor(key: JwksKey, alg: string): Promise<CryptoKey | Uint8Array> {
  let p = key.imported.get(alg);
  if (!p) {
    p = importJWK(key.jwk, alg);
    key.imported.set(alg, p);
  }
  return p;
}

export class JwksFetchError extends Error {}

export interface JwksSource {
  /** The keys now; rejects with JwksFetchError when a remote fetch failed. */
  keys(): Promise<KeySet>;
}

export interface RemoteJwksDeps {
  fetchSuccess: Counter;
  fetchFailed: Counter;
  log?: (level: "info" | "warn" | "error", msg: string) => void;
  now?: () => number;
  /** The proxy's clusters, which `http_uri.cluster` names; looked up at each fetch. */
  clusters?: ClusterManagerApi;
}

/** Envoy's default remote_jwks cache_duration: 10 minutes. */
const defaultCacheMs = 600_000;
const defaultTimeoutMs = 5_000;

export class RemoteJwks implements JwksSource {
  private cached: { set: KeySet; expires: number } | undefined;
  private inflight: Promise<KeySet> | undefined;

  constructor(
    readonly uri: string,
    /** `http_uri.cluster`: the fetch goes through it; "" → straight to the URI. */
    readonly cluster: string,
    private readonly timeoutMs: number,
    private readonly cacheMs: number,
    private readonly deps: RemoteJwksDeps,
  ) {}

  keys(): Promise<KeySet> {
    const now = (this.deps.now ?? Date.now)();
    if (this.cached && now < this.cached.expires) return Promise.resolve(this.cached.set);
    // Concurrent requests share one fetch.
    this.inflight ??= this.fetch().finally(() => (this.inflight = undefined));
    return this.inflight;
  }

  private async fetch(): Promise<KeySet> {
    try {
      const body = await fetchJwksText({ uri: this.uri, cluster: this.cluster, timeoutMs: this.timeoutMs }, this.deps.clusters);
      const set = parseJwks(body);
      this.cached = { set, expires: (this.deps.now ?? Date.now)() + this.cacheMs };
      this.deps.fetchSuccess.value++;
      return set;
    } catch (err) {
      this.deps.fetchFailed.value++;
      const via = this.cluster ? ` through cluster ${this.cluster}` : "";
      this.deps.log?.("warn", `jwt_authn: fetching JWKS from ${this.uri}${via} failed: ${(err as Error).message}`);
      // Envoy drops the stale keys too once the cache expired: verification fails closed.
      this.cached = undefined;
      throw new JwksFetchError((err as Error).message);
    }
  }
}

export class LocalJwks implements JwksSource {
  private readonly set: Promise<KeySet>;
  constructor(set: KeySet) {
    this.set = Promise.resolve(set);
  }
  keys(): Promise<KeySet> {
    return this.set;
  }
}

/** A provider's local_jwks or remote_jwks → a JwksSource (invalid inline keys are a ConfigError, as Envoy rejects them). */
export function compileJwksSource(provider: Json, path: string, deps: RemoteJwksDeps): JwksSource {
  const local = obj(provider.local_jwks);
  const remote = obj(provider.remote_jwks);
  if (local && remote) throw new ConfigError(path, "set either local_jwks or remote_jwks, not both");
  if (local) {
    const p = `${path}.local_jwks`;
    onlyFields(local, p, ["inline_string", "inline_bytes"]);
    const text = str(local.inline_string) ?? (typeof local.inline_bytes === "string" ? Buffer.from(local.inline_bytes, "base64").toString("utf8") : undefined);
    if (text === undefined) throw new ConfigError(p, "needs inline_string or inline_bytes (filename is not read: the proxy takes config from xDS only)");
    try {
      return new LocalJwks(parseJwks(text));
    } catch (err) {
      throw new ConfigError(p, `invalid JWKS: ${(err as Error).message}`);
    }
  }
  if (remote) {
    const p = `${path}.remote_jwks`;
    // async_fetch is accepted: keys are fetched on first use either way (documented).
    onlyFields(remote, p, ["http_uri", "cache_duration"], ["async_fetch"]);
    const httpUri = obj(remote.http_uri);
    if (!httpUri) throw new ConfigError(`${p}.http_uri`, "is required");
    onlyFields(httpUri, `${p}.http_uri`, ["uri", "cluster", "timeout"]);
    const uri = str(httpUri.uri);
    if (!uri || !/^https?:\/\//.test(uri)) throw new ConfigError(`${p}.http_uri.uri`, "must be an http:// or https:// URL");
    let timeoutMs: number | undefined;
    let cacheMs: number | undefined;
    try {
      timeoutMs = durationMs(httpUri.timeout);
      cacheMs = durationMs(remote.cache_duration);
    } catch (err) {
      throw new ConfigError(p, (err as Error).message);
    }
    return new RemoteJwks(uri, str(httpUri.cluster) ?? "", timeoutMs || defaultTimeoutMs, cacheMs ?? defaultCacheMs, deps);
  }
  throw new ConfigError(path, "a provider needs local_jwks or remote_jwks");
}
