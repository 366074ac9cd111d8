// envoy.filters.http.jwt_authn: verifies JWTs per the providers and rules the control
// plane sent (Istio's RequestAuthentication). A request that fails its requirement gets
// Envoy's answer: 401 with the reason as body and `www-authenticate: Bearer realm=…`
// (403 when only the audience is wrong). A verified token leaves its payload in the
// request's dynamic metadata for RBAC — under this filter's name as Envoy does
// (payload_in_metadata), and as Istio's authn filter does under `istio_authn`
// (request.auth.principal/audiences/presenter/claims), which is what the translator's
// RBAC policies read.
import { decodeJwt, type JWTPayload } from "jose";
import { ConfigError, obj, onlyFields, str, type Json } from "../json.ts";
import type { Exchange, FilterStatus, HttpFilter } from "../http-filter.ts";
import { perFilterConfig } from "../http-filter.ts";
import { StatsRegistry } from "../stats.ts";
import type { ClusterManagerApi } from "../upstream/index.ts";
import { setDynamicMetadata } from "./rbac-metadata.ts";
import { anyTokenPresent, claimAt, claimHeaderValue, compileProvider, findToken, type FoundToken, type JwtProvider } from "./jwt-provider.ts";
import { compileRequirement, compileRules, missing, ok, type CompiledRule, type Outcome, type Requirement, type Verifier } from "./jwt-requirements.ts";
import { JwtStatus, verifyJwt } from "./jwt-verify.ts";

export const jwtAuthnTypeUrl = "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication";
export const jwtPerRouteTypeUrl = "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.PerRouteConfig";

/** Envoy's dynamic metadata namespace for payload_in_metadata. */
export const jwtMetadataFilter = "envoy.filters.http.jwt_authn";
/** Istio's authn namespace, where AuthorizationPolicy's request.auth.* conditions look. */
export const istioAuthnMetadataFilter = "istio_authn";

export interface JwtFilterOptions {
  stats?: StatsRegistry;
  statPrefix?: string;
  log?: (level: "info" | "warn" | "error", msg: string) => void;
  /** The proxy's clusters: remote JWKS are fetched through the one `http_uri.cluster` names. */
  clusters?: ClusterManagerApi;
}

export interface JwtPerRoute {
  disabled: boolean;
  requirementName: string | undefined;
}

const perRouteCache = new WeakMap<Json, JwtPerRoute>();

/** PerRouteConfig {disabled | requirement_name}. */
export function compileJwtPerRoute(json: Json, path: string): JwtPerRoute {
  let c = perRouteCache.get(json);
  if (!c) {
    onlyFields(json, path, ["disabled", "requirement_name"]);
    if (json.disabled !== undefined && json.requirement_name !== undefined) throw new ConfigError(path, "set disabled or requirement_name, not both");
    if (json.disabled === undefined && !str(json.requirement_name)) throw new ConfigError(path, "needs disabled or requirement_name");
    c = { disabled: json.disabled === true, requirementName: str(json.requirement_name) };
    perRouteCache.set(json, c);
  }
  return c;
}

/** Istio's claims view: every leaf a list of strings, so list matchers fit plain claims too. */
function istioClaims(value: unknown): unknown {
  if (Array.isArray(value)) return value.filter((x) => ["string", "number", "boolean"].includes(typeof x)).map(String);
  const o = obj(value);
  if (o) return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, istioClaims(v)]));
  if (value === null || value === undefined) return [];
  return [String(value)];
}

/** What a verified payload leaves under `istio_authn` (request.auth.principal/audiences/presenter/claims). */
export function istioAuthnMetadata(payload: JWTPayload): Record<string, unknown> {
  const out: Record<string, unknown> = { "request.auth.claims": istioClaims(payload) };
  if (typeof payload.iss === "string" && typeof payload.sub === "string") out["request.auth.principal"] = `${payload.iss}/${payload.sub}`;
  if (payload.aud !== undefined) out["request.auth.audiences"] = (Array.isArray(payload.aud) ? payload.aud : [payload.aud]).map(String);
  if (typeof payload.azp === "string") out["request.auth.presenter"] = payload.azp;
  return out;
}

interface Success {
  provider: JwtProvider;
  found: FoundToken;
  payload: JWTPayload;
  header: Record<string, unknown>;
  payloadSegment: string;
}

function isCorsPreflight(ex: Exchange): boolean {
  return ex.method === "OPTIONS" && ex.headers.origin !== undefined && ex.headers["access-control-request-method"] !== undefined;
}

export function createJwtAuthnFilter(name: string, config: Json, path: string, opts: JwtFilterOptions = {}): HttpFilter {
  onlyFields(config, path, ["providers", "rules", "requirement_map", "bypass_cors_preflight"], ["stat_prefix"]);
  const stats = opts.stats ?? new StatsRegistry();
  const prefix = `http.${opts.statPrefix ?? ""}.jwt_authn.`;
  const counters = {
    allowed: stats.counter(`${prefix}allowed`),
    denied: stats.counter(`${prefix}denied`),
    corsBypassed: stats.counter(`${prefix}cors_preflight_bypassed`),
    fetchSuccess: stats.counter(`${prefix}jwks_fetch_success`),
    fetchFailed: stats.counter(`${prefix}jwks_fetch_failed`),
  };
  const providersJson = obj(config.providers) ?? {};
  const providers = new Map<string, JwtProvider>();
  for (const [pname, pjson] of Object.entries(providersJson)) {
    const pj = obj(pjson);
    if (!pj) throw new ConfigError(`${path}.providers.${pname}`, "expected a JwtProvider object");
    providers.set(pname, compileProvider(pname, pj, `${path}.providers.${pname}`, { fetchSuccess: counters.fetchSuccess, fetchFailed: counters.fetchFailed, log: opts.log, clusters: opts.clusters }));
  }
  const names = new Set(providers.keys());
  const named = new Map<string, Requirement>();
  for (const [rname, rjson] of Object.entries(obj(config.requirement_map) ?? {})) named.set(rname, compileRequirement(rjson, `${path}.requirement_map.${rname}`, names));
  const rules: CompiledRule[] = compileRules(config.rules, `${path}.rules`, names, named);
  const bypassCors = config.bypass_cors_preflight === true;

  function requirementFor(ex: Exchange, pathOnly: string): Requirement | undefined | "unknown" {
    const override = perFilterConfig(ex, name);
    if (override) {
      const pr = compileJwtPerRoute(override, `typed_per_filter_config.${name}`);
      if (pr.disabled) return undefined;
      return named.get(pr.requirementName ?? "") ?? "unknown";
    }
    const header = (n: string): string | undefined => {
      if (n === ":method") return ex.method;
      if (n === ":authority") return ex.authority;
      if (n === ":path") return ex.path;
      const v = ex.headers[n];
      return v === undefined ? undefined : Array.isArray(v) ? v.join(",") : String(v);
    };
    for (const r of rules) if (r.matches({ path: pathOnly, header })) return r.requirement;
    return undefined; // no rule matches: nothing is required
  }

  return {
    name,
    async onRequest(ex: Exchange): Promise<FilterStatus> {
      if (bypassCors && isCorsPreflight(ex)) {
        counters.corsBypassed.value++;
        return "continue";
      }
      const q = ex.path.indexOf("?");
      const pathOnly = q < 0 ? ex.path : ex.path.slice(0, q);
      const requirement = requirementFor(ex, pathOnly);
      if (requirement === undefined) return "continue";
      if (requirement === "unknown") {
        // A route names a requirement the filter lacks: fail closed rather than let it through.
        counters.denied.value++;
        ex.ctx.responseCodeDetails = "jwt_authn_access_denied{unknown_requirement_name}";
        ex.sendLocalReply(403, "Jwt authentication: the route's requirement_name is not configured");
        return "stop";
      }
      const query = q < 0 ? undefined : new URLSearchParams(ex.path.slice(q + 1));
      // Tokens are found on the request as it arrived, before any is stripped.
      const found = new Map<string, FoundToken | undefined>();
      const tokenOf = (p: JwtProvider): FoundToken | undefined => {
        if (!found.has(p.name)) found.set(p.name, findToken(p, ex.headers, query));
        return found.get(p.name);
      };
      const successes: Success[] = [];
      const memo = new Map<string, Promise<Outcome>>();
      const nowSec = Math.floor(Date.now() / 1000);
      const verifyWith = (p: JwtProvider, audiences?: readonly string[]): Promise<Outcome> => {
        const key = audiences ? `${p.name}\u0000${audiences.join(",")}` : p.name;
        let r = memo.get(key);
        if (!r) {
          const token = tokenOf(p);
          r = !token
            ? Promise.resolve(missing)
            : verifyJwt(token.token, audiences ? { ...p.policy, audiences } : p.policy, nowSec).then((res): Outcome => {
                if (!res.ok) return { kind: "failed", error: res.error };
                successes.push({ provider: p, found: token, payload: res.payload, header: res.header, payloadSegment: res.payloadSegment });
                return ok;
              });
          memo.set(key, r);
        }
        return r;
      };
      const verifier: Verifier = {
        provider: (pname, audiences) => verifyWith(providers.get(pname)!, audiences),
        anyTokenPresent: () => anyTokenPresent(providers.values(), ex.headers, query),
        async allPresent() {
          // Each distinct token is verified by the provider of its issuer.
          const seen = new Set<string>();
          for (const p of providers.values()) {
            const t = tokenOf(p);
            if (!t || seen.has(t.token)) continue;
            seen.add(t.token);
            let iss: unknown;
            try {
              iss = decodeJwt(t.token).iss;
            } catch {
              return { kind: "failed", error: JwtStatus.badFormat };
            }
            const owner = [...providers.values()].find((c) => (c.policy.issuer === "" || c.policy.issuer === iss) && tokenOf(c)?.token === t.token);
            if (!owner) return { kind: "failed", error: JwtStatus.unknownIssuer };
            const r = await verifyWith(owner);
            if (r.kind !== "ok") return r;
          }
          return ok;
        },
      };
      const outcome = await requirement(verifier);
      if (outcome.kind === "ok") {
        applyOutputs(ex, successes);
        counters.allowed.value++;
        return "continue";
      }
      counters.denied.value++;
      const reason = outcome.kind === "missing" ? JwtStatus.missing : outcome.error;
      const realm = `${ex.scheme}://${ex.authority}${pathOnly}`;
      const challenge = outcome.kind === "missing" ? `Bearer realm="${realm}"` : `Bearer realm="${realm}", error="invalid_token"`;
      ex.ctx.responseCodeDetails = `jwt_authn_access_denied{${reason.replace(/\s+/g, "_")}}`;
      ex.sendLocalReply(reason === JwtStatus.audienceNotAllowed ? 403 : 401, reason, { "www-authenticate": challenge });
      return "stop";
    },
  };
}

/** What verified tokens leave behind, applied once the requirement passed. */
function applyOutputs(ex: Exchange, successes: readonly Success[]): void {
  let istioDone = false;
  for (const s of successes) {
    const p = s.provider;
    if (p.payloadInMetadata) setDynamicMetadata(ex.ctx, jwtMetadataFilter, { [p.payloadInMetadata]: s.payload });
    if (p.headerInMetadata) setDynamicMetadata(ex.ctx, jwtMetadataFilter, { [p.headerInMetadata]: s.header });
    if (!istioDone) {
      setDynamicMetadata(ex.ctx, istioAuthnMetadataFilter, istioAuthnMetadata(s.payload));
      istioDone = true;
    }
    if (p.forwardPayloadHeader) {
      const seg = s.payloadSegment;
      ex.headers[p.forwardPayloadHeader] = p.padForwardPayloadHeader ? seg + "=".repeat((4 - (seg.length % 4)) % 4) : seg;
    }
    for (const c of p.claimToHeaders) {
      const v = claimHeaderValue(claimAt(s.payload, c.claim));
      if (v !== undefined) ex.headers[c.header] = v;
    }
  }
  // Stripping last: two providers may read the same header.
  for (const s of successes) if (!s.provider.forward && s.found.header) delete ex.headers[s.found.header];
}
