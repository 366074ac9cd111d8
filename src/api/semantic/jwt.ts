// RequestAuthentication: JWT rules (issuer, where keys come from, where tokens are found).
import { Findings, at } from "./findings.ts";
import { has, list, obj, str, type Obj } from "./read.ts";
import { checkWorkloadSelector } from "./labels.ts";
import { checkDuration, checkPolicyTargets } from "./common.ts";
import { checkHeaderName } from "./headers.ts";

/** Istio accepts an http or https URL with a host. */
export function checkJwksUri(uri: string): string | undefined {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return `jwksUri "${uri}" is not a valid URL`;
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return `jwksUri "${uri}" must use http or https, not ${url.protocol.replace(/:$/, "")}`;
  if (url.hostname === "") return `jwksUri "${uri}" has no host`;
  return undefined;
}

const KEY_MEMBERS: Record<string, string[]> = { RSA: ["n", "e"], EC: ["crv", "x", "y"], oct: ["k"], OKP: ["crv", "x"] };

/** A JSON Web Key Set (or a single JWK), as the jwks field inlines it. */
export function checkJwks(text: string): string | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    return `jwks is not valid JSON: ${err instanceof Error ? err.message : String(err)}`;
  }
  const set = obj(parsed);
  if (!set) return "jwks must be a JSON object with a \"keys\" array";
  const keys = Array.isArray(set.keys) ? set.keys : has(set, "kty") ? [set] : undefined;
  if (!keys) return "jwks must have a \"keys\" array";
  if (keys.length === 0) return "jwks has no keys";
  for (const [i, raw] of keys.entries()) {
    const key = obj(raw);
    const kty = str(key?.kty);
    if (!key || !kty) return `jwks key ${i} has no "kty"`;
    const members = KEY_MEMBERS[kty];
    if (!members) return `jwks key ${i} has unsupported kty "${kty}" (use RSA, EC, OKP or oct)`;
    const missing = members.filter((m) => typeof key[m] !== "string" || key[m] === "");
    if (missing.length > 0) return `jwks key ${i} (${kty}) is missing ${missing.map((m) => `"${m}"`).join(", ")}`;
  }
  return undefined;
}

export function checkRequestAuthentication(f: Findings, spec: Obj): void {
  checkWorkloadSelector(f, "spec.selector", spec.selector);
  checkPolicyTargets(f, spec);
  for (const [i, raw] of list(spec.jwtRules).entries()) {
    const rule = obj(raw);
    if (!rule) continue;
    const p = at("spec.jwtRules", i);
    const issuer = str(rule.issuer);
    if (!issuer) f.error(at(p, "issuer"), "issuer is required", 'set issuer to the token issuer ("iss" claim), e.g. "https://accounts.example.com"');
    for (const [j, a] of list(rule.audiences).entries()) {
      if (str(a) === "") f.error(at(p, "audiences", j), "audience must not be empty", "remove the empty audience");
    }
    const uri = str(rule.jwksUri);
    const jwks = str(rule.jwks);
    if (uri && jwks) f.error(p, "jwksUri and jwks cannot both be set", "keep jwksUri (fetched) or jwks (inline), not both");
    if (uri) {
      const problem = checkJwksUri(uri);
      if (problem) f.error(at(p, "jwksUri"), problem, 'use an https URL, e.g. "https://example.com/.well-known/jwks.json"');
    }
    if (jwks) {
      const problem = checkJwks(jwks);
      if (problem) f.error(at(p, "jwks"), problem, 'inline a JWKS document: {"keys": [{"kty": "RSA", "n": "...", "e": "AQAB", ...}]}');
    }
    for (const [j, raw2] of list(rule.fromHeaders).entries()) {
      const h = obj(raw2);
      if (!h) continue;
      const name = str(h.name);
      if (!name) f.error(at(p, "fromHeaders", j, "name"), "header name is required", 'name the header carrying the token, e.g. "Authorization"');
      else {
        const problem = checkHeaderName(name);
        if (problem) f.error(at(p, "fromHeaders", j, "name"), problem, "use a valid header name");
      }
    }
    for (const [j, v] of list(rule.fromParams).entries()) if (str(v) === "") f.error(at(p, "fromParams", j), "query parameter name must not be empty", "name the parameter, e.g. access_token");
    for (const [j, v] of list(rule.fromCookies).entries()) if (str(v) === "") f.error(at(p, "fromCookies", j), "cookie name must not be empty", "name the cookie");
    for (const [j, raw2] of list(rule.outputClaimToHeaders).entries()) {
      const c = obj(raw2);
      if (!c) continue;
      if (!str(c.header) || !str(c.claim)) {
        f.error(at(p, "outputClaimToHeaders", j), "outputClaimToHeaders needs both header and claim", "set header and claim");
        continue;
      }
      const problem = checkHeaderName(str(c.header) ?? "");
      if (problem) f.error(at(p, "outputClaimToHeaders", j, "header"), problem, "use a valid header name");
    }
    if (has(rule, "timeout")) checkDuration(f, at(p, "timeout"), rule.timeout);
  }
}
