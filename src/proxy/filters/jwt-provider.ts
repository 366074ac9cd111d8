// One jwt_authn JwtProvider: where its token is looked for, how it is verified, and
// what a verified token leaves behind (forwarded or stripped token, payload header,
// claim headers, dynamic metadata).
import { ConfigError, arr, num, obj, onlyFields, str, type Json } from "../json.ts";
import type { HeaderMap } from "../header-mutation.ts";
import { compileJwksSource, type RemoteJwksDeps } from "./jwt-jwks.ts";
import type { VerifyPolicy } from "./jwt-verify.ts";

export interface HeaderLocation {
  name: string;
  prefix: string;
}

export interface JwtProvider {
  name: string;
  policy: VerifyPolicy;
  headers: HeaderLocation[];
  params: string[];
  cookies: string[];
  forward: boolean;
  forwardPayloadHeader: string | undefined;
  padForwardPayloadHeader: boolean;
  payloadInMetadata: string | undefined;
  headerInMetadata: string | undefined;
  claimToHeaders: Array<{ header: string; claim: string }>;
}

/** A token found in a request, and where (so it can be stripped when not forwarded). */
export interface FoundToken {
  token: string;
  header: string | undefined;
}

/** Envoy's default locations when a provider names none. */
const defaultHeaders: HeaderLocation[] = [{ name: "authorization", prefix: "Bearer " }];
const defaultParams = ["access_token"];

const jwtChars = /^[A-Za-z0-9._~+/=-]+/;

export function compileProvider(name: string, json: Json, path: string, deps: RemoteJwksDeps): JwtProvider {
  onlyFields(
    json,
    path,
    [
      "issuer",
      "audiences",
      "local_jwks",
      "remote_jwks",
      "forward",
      "from_headers",
      "from_params",
      "from_cookies",
      "forward_payload_header",
      "pad_forward_payload_header",
      "payload_in_metadata",
      "header_in_metadata",
      "claim_to_headers",
      "clock_skew_seconds",
      "require_expiration",
    ],
    // Harmless: a verification cache and route-cache clearing change cost, not the outcome here.
    ["jwt_cache_config", "clear_route_cache"],
  );
  const headers = arr(json.from_headers).map((h, i): HeaderLocation => {
    onlyFields(h, `${path}.from_headers[${i}]`, ["name", "value_prefix"]);
    const n = str(h.name);
    if (!n) throw new ConfigError(`${path}.from_headers[${i}].name`, "is required");
    return { name: n.toLowerCase(), prefix: str(h.value_prefix) ?? "" };
  });
  const params = (Array.isArray(json.from_params) ? json.from_params : []).map(String);
  const cookies = (Array.isArray(json.from_cookies) ? json.from_cookies : []).map(String);
  const noneNamed = headers.length === 0 && params.length === 0 && cookies.length === 0;
  const claimToHeaders = arr(json.claim_to_headers).map((c, i) => {
    onlyFields(c, `${path}.claim_to_headers[${i}]`, ["header_name", "claim_name"]);
    const header = str(c.header_name)?.toLowerCase();
    const claim = str(c.claim_name);
    if (!header || !claim) throw new ConfigError(`${path}.claim_to_headers[${i}]`, "needs header_name and claim_name");
    return { header, claim };
  });
  return {
    name,
    policy: {
      issuer: str(json.issuer) ?? "",
      audiences: (Array.isArray(json.audiences) ? json.audiences : []).map(String),
      clockSkewSec: num(json.clock_skew_seconds) ?? 60,
      requireExpiration: json.require_expiration === true,
      jwks: compileJwksSource(json, path, deps),
    },
    headers: noneNamed ? defaultHeaders : headers,
    params: noneNamed ? defaultParams : params,
    cookies,
    forward: json.forward === true,
    forwardPayloadHeader: str(json.forward_payload_header)?.toLowerCase() || undefined,
    padForwardPayloadHeader: json.pad_forward_payload_header === true,
    payloadInMetadata: str(json.payload_in_metadata) || undefined,
    headerInMetadata: str(json.header_in_metadata) || undefined,
    claimToHeaders,
  };
}

function headerText(headers: HeaderMap, name: string): string | undefined {
  const v = headers[name];
  return v === undefined ? undefined : Array.isArray(v) ? v[0] : String(v);
}

/** The provider's token in this request: headers first, then query parameters, then cookies. */
export function findToken(p: JwtProvider, headers: HeaderMap, query: URLSearchParams | undefined): FoundToken | undefined {
  for (const loc of p.headers) {
    const value = headerText(headers, loc.name);
    if (value === undefined) continue;
    let rest = value;
    if (loc.prefix) {
      // Envoy matches the Bearer prefix of Authorization case-insensitively.
      const at = loc.name === "authorization" ? value.toLowerCase().indexOf(loc.prefix.toLowerCase()) : value.indexOf(loc.prefix);
      if (at < 0) continue;
      rest = value.slice(at + loc.prefix.length);
    }
    const token = jwtChars.exec(rest.trim())?.[0];
    if (token) return { token, header: loc.name };
  }
  for (const name of p.params) {
    const token = query?.get(name);
    if (token) return { token, header: undefined };
  }
  if (p.cookies.length > 0) {
    const cookie = headerText(headers, "cookie") ?? "";
    for (const pair of cookie.split(";")) {
      const eq = pair.indexOf("=");
      if (eq < 0) continue;
      if (p.cookies.includes(pair.slice(0, eq).trim())) {
        const token = pair.slice(eq + 1).trim();
        if (token) return { token, header: undefined };
      }
    }
  }
  return undefined;
}

/** Every provider's token locations at once (for a standalone allow_missing requirement). */
export function anyTokenPresent(providers: Iterable<JwtProvider>, headers: HeaderMap, query: URLSearchParams | undefined): boolean {
  for (const p of providers) if (findToken(p, headers, query)) return true;
  return false;
}

/** A claim by dotted path (`a.b`), as claim_to_headers names nested claims. */
export function claimAt(payload: Record<string, unknown>, claim: string): unknown {
  let cur: unknown = payload;
  for (const key of claim.split(".")) {
    const o = obj(cur);
    if (!o) return undefined;
    cur = o[key];
  }
  return cur;
}

/** A claim as a header value: strings, numbers and booleans; lists of them joined by commas. */
export function claimHeaderValue(v: unknown): string | undefined {
  if (typeof v === "string") return v;
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  if (Array.isArray(v) && v.every((x) => ["string", "number", "boolean"].includes(typeof x))) return v.map(String).join(",");
  return undefined;
}
