// jwt_authn's JwtRequirement tree and RequirementRule matching. A requirement is
// evaluated against a per-request Verifier that verifies each provider's token at most
// once; the result is ok, missing (no token) or an error, combined as Envoy does:
// requires_any is ok when one child is; allow_missing inside it passes a request that
// carries no token at all, but not one whose token is bad (Istio's RequestAuthentication
// shape); allow_missing_or_failed passes everything.
import { ConfigError, arr, obj, onlyFields, str } from "../json.ts";
import { compileHeaderMatcher, compileSafeRegex, type HeaderPredicate, type HeaderLookup } from "../string-match.ts";
import type { JwtError } from "./jwt-verify.ts";
import { JwtStatus } from "./jwt-verify.ts";

export type Outcome = { kind: "ok" } | { kind: "missing" } | { kind: "failed"; error: JwtError };

export const ok: Outcome = { kind: "ok" };
export const missing: Outcome = { kind: "missing" };

/** What a requirement can ask of the request being checked. */
export interface Verifier {
  /** Verify the named provider's token (audiences override for provider_and_audiences). */
  provider(name: string, audiences?: readonly string[]): Promise<Outcome>;
  /** Any token in any provider's location? */
  anyTokenPresent(): boolean;
  /** Verify every present token with the provider of its issuer (standalone allow_missing*). */
  allPresent(): Promise<Outcome>;
}

export type Requirement = (v: Verifier) => Promise<Outcome>;

/** First non-missing failure, else missing. */
function worst(outcomes: Outcome[]): Outcome {
  return outcomes.find((o) => o.kind === "failed") ?? missing;
}

export function compileRequirement(value: unknown, path: string, providers: ReadonlySet<string>): Requirement {
  const o = obj(value);
  if (!o) throw new ConfigError(path, "expected a JwtRequirement object");
  onlyFields(o, path, ["provider_name", "provider_and_audiences", "requires_any", "requires_all", "allow_missing", "allow_missing_or_failed"]);
  const kinds = Object.keys(o);
  if (kinds.length !== 1) throw new ConfigError(path, `a JwtRequirement needs exactly one kind, got ${kinds.length === 0 ? "none" : kinds.join(", ")}`);
  const known = (name: unknown, p: string): string => {
    const n = str(name);
    if (!n || !providers.has(n)) throw new ConfigError(p, `provider "${String(name)}" is not in providers`);
    return n;
  };
  if (o.provider_name !== undefined) {
    const name = known(o.provider_name, `${path}.provider_name`);
    return (v) => v.provider(name);
  }
  if (o.provider_and_audiences !== undefined) {
    const pa = obj(o.provider_and_audiences) ?? {};
    onlyFields(pa, `${path}.provider_and_audiences`, ["provider_name", "audiences"]);
    const name = known(pa.provider_name, `${path}.provider_and_audiences.provider_name`);
    const audiences = (Array.isArray(pa.audiences) ? pa.audiences : []).map(String);
    return (v) => v.provider(name, audiences);
  }
  if (o.allow_missing !== undefined) {
    return async (v) => (v.anyTokenPresent() ? v.allPresent() : ok);
  }
  if (o.allow_missing_or_failed !== undefined) {
    return async (v) => {
      if (v.anyTokenPresent()) await v.allPresent(); // outputs of valid tokens still apply
      return ok;
    };
  }
  const groupKey = o.requires_any !== undefined ? "requires_any" : "requires_all";
  const group = obj(o[groupKey]) ?? {};
  onlyFields(group, `${path}.${groupKey}`, ["requirements"]);
  const childrenJson = arr(group.requirements);
  if (childrenJson.length < 2) throw new ConfigError(`${path}.${groupKey}.requirements`, "needs at least two requirements");
  const children = childrenJson.map((c, i) => compileRequirement(c, `${path}.${groupKey}.requirements[${i}]`, providers));
  const allowMissing = childrenJson.some((c) => c.allow_missing !== undefined);
  const allowMissingOrFailed = childrenJson.some((c) => c.allow_missing_or_failed !== undefined);
  if (groupKey === "requires_all") {
    return async (v) => {
      for (const child of children) {
        const r = await child(v);
        if (r.kind !== "ok") return r;
      }
      return ok;
    };
  }
  const real = children.filter((_, i) => childrenJson[i].allow_missing === undefined && childrenJson[i].allow_missing_or_failed === undefined);
  return async (v) => {
    const outcomes: Outcome[] = [];
    for (const child of real) {
      const r = await child(v);
      if (r.kind === "ok") return ok;
      outcomes.push(r);
    }
    if (allowMissingOrFailed) return ok;
    if (allowMissing && !v.anyTokenPresent()) return ok;
    return worst(outcomes);
  };
}

/** What a RequirementRule's match reads. */
export interface RuleInput {
  path: string;
  header: HeaderLookup;
}

export interface CompiledRule {
  matches(input: RuleInput): boolean;
  /** undefined: the rule matches and requires nothing (the request is not verified). */
  requirement: Requirement | undefined;
}

/** RequirementRule.match: a RouteMatch (prefix, path, safe_regex, path_separated_prefix; case_sensitive; headers). */
function compileRuleMatch(value: unknown, path: string): (input: RuleInput) => boolean {
  const m = obj(value);
  if (!m) throw new ConfigError(path, "is required (a RouteMatch)");
  onlyFields(m, path, ["prefix", "path", "safe_regex", "path_separated_prefix", "case_sensitive", "headers"]);
  const caseSensitive = m.case_sensitive !== false;
  const norm = (s: string): string => (caseSensitive ? s : s.toLowerCase());
  const headers: HeaderPredicate[] = arr(m.headers).map((h, i) => compileHeaderMatcher(h, `${path}.headers[${i}]`));
  let pathTest: (p: string) => boolean;
  if (typeof m.prefix === "string") {
    const want = norm(m.prefix);
    pathTest = (p) => norm(p).startsWith(want);
  } else if (typeof m.path === "string") {
    const want = norm(m.path);
    pathTest = (p) => norm(p) === want;
  } else if (typeof m.path_separated_prefix === "string") {
    const want = norm(m.path_separated_prefix);
    pathTest = (p) => {
      const n = norm(p);
      return n === want || n.startsWith(`${want}/`);
    };
  } else if (m.safe_regex !== undefined) {
    const re = compileSafeRegex(m.safe_regex, `${path}.safe_regex`);
    pathTest = (p) => re.matches(p);
  } else throw new ConfigError(path, "needs prefix, path, path_separated_prefix or safe_regex");
  return (input) => pathTest(input.path) && headers.every((h) => h(input.header));
}

export function compileRules(value: unknown, path: string, providers: ReadonlySet<string>, named: ReadonlyMap<string, Requirement>): CompiledRule[] {
  return arr(value).map((r, i) => {
    const p = `${path}[${i}]`;
    onlyFields(r, p, ["match", "requires", "requirement_name"]);
    const matches = compileRuleMatch(r.match, `${p}.match`);
    let requirement: Requirement | undefined;
    if (r.requires !== undefined && r.requirement_name !== undefined) throw new ConfigError(p, "set requires or requirement_name, not both");
    if (r.requires !== undefined) requirement = compileRequirement(r.requires, `${p}.requires`, providers);
    else if (r.requirement_name !== undefined) {
      requirement = named.get(String(r.requirement_name));
      if (!requirement) throw new ConfigError(`${p}.requirement_name`, `"${String(r.requirement_name)}" is not in requirement_map`);
    }
    return { matches, requirement };
  });
}

/** Envoy's 401 reasons are the JwtStatus texts; re-exported for the filter. */
export { JwtStatus };
