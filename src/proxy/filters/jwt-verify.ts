// Verifying one JWT for one provider, in Envoy's order (jwt_verify_lib): parse, issuer,
// time (exp/nbf with clock skew), audiences, then the keys and the signature. The first
// failing step decides the error, and its text is Envoy's, because users and tests read
// the 401 body. Signatures are checked by jose; the key is chosen by kid and alg as
// Envoy does: every JWKS key whose kid/alg/kty fit is tried.
import { compactVerify, decodeJwt, decodeProtectedHeader, type JWTPayload } from "jose";
import { JwksFetchError, keyFor, type JwksKey, type JwksSource } from "./jwt-jwks.ts";

/** Envoy's status texts (the 401 body and, with spaces as `_`, the response code details). */
export const JwtStatus = {
  missing: "Jwt is missing",
  badFormat: "Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections",
  badHeader: "Jwt header is an invalid JSON",
  badPayload: "Jwt payload is an invalid JSON",
  unknownIssuer: "Jwt issuer is not configured",
  notYetValid: "Jwt not yet valid",
  expired: "Jwt is expired",
  noExpiration: "Jwt doesn't have an expiration time",
  audienceNotAllowed: "Audiences in Jwt are not allowed",
  kidAlgMismatch: "Jwks doesn't have key to match kid or alg from Jwt",
  verificationFails: "Jwt verification fails",
  fetchFailed: "Jwks remote fetch is failed",
} as const;

export type JwtError = (typeof JwtStatus)[keyof typeof JwtStatus];

export interface VerifyPolicy {
  issuer: string;
  /** Empty: audiences are not checked. */
  audiences: readonly string[];
  clockSkewSec: number;
  requireExpiration: boolean;
  jwks: JwksSource;
}

export type VerifyResult = { ok: true; payload: JWTPayload; header: Record<string, unknown>; payloadSegment: string } | { ok: false; error: JwtError };

/** Which key types can carry which JWS algorithms. */
function ktyFits(jwk: JwksKey["jwk"], alg: string): boolean {
  if (alg.startsWith("RS") || alg.startsWith("PS")) return jwk.kty === "RSA";
  if (alg === "ES256") return jwk.kty === "EC" && jwk.crv === "P-256";
  if (alg === "ES384") return jwk.kty === "EC" && jwk.crv === "P-384";
  if (alg === "ES512") return jwk.kty === "EC" && jwk.crv === "P-521";
  if (alg.startsWith("HS")) return jwk.kty === "oct";
  if (alg === "EdDSA" || alg === "Ed25519") return jwk.kty === "OKP";
  return false;
}

export async function verifyJwt(token: string, policy: VerifyPolicy, nowSec: number): Promise<VerifyResult> {
  const parts = token.split(".");
  if (parts.length !== 3) return { ok: false, error: JwtStatus.badFormat };
  let header: Record<string, unknown>;
  let payload: JWTPayload;
  try {
    header = decodeProtectedHeader(token) as Record<string, unknown>;
  } catch {
    return { ok: false, error: JwtStatus.badHeader };
  }
  try {
    payload = decodeJwt(token);
  } catch {
    return { ok: false, error: JwtStatus.badPayload };
  }
  const alg = typeof header.alg === "string" ? header.alg : "";
  // "none" and unknown algorithms can never verify.
  if (alg === "" || alg === "none") return { ok: false, error: JwtStatus.verificationFails };

  if (policy.issuer && payload.iss !== policy.issuer) return { ok: false, error: JwtStatus.unknownIssuer };

  const skew = policy.clockSkewSec;
  if (typeof payload.nbf === "number" && nowSec + skew < payload.nbf) return { ok: false, error: JwtStatus.notYetValid };
  if (typeof payload.exp === "number" && nowSec - skew >= payload.exp) return { ok: false, error: JwtStatus.expired };
  if (payload.exp === undefined && policy.requireExpiration) return { ok: false, error: JwtStatus.noExpiration };

  if (policy.audiences.length > 0) {
    const aud = payload.aud === undefined ? [] : Array.isArray(payload.aud) ? payload.aud : [payload.aud];
    // Envoy compares audiences ignoring a scheme prefix and a trailing slash.
    const norm = (a: string): string => a.replace(/^https?:\/\//, "").replace(/\/$/, "");
    const allowed = new Set(policy.audiences.map(norm));
    if (!aud.some((a) => typeof a === "string" && allowed.has(norm(a)))) return { ok: false, error: JwtStatus.audienceNotAllowed };
  }

  let keys: JwksKey[];
  try {
    keys = (await policy.jwks.keys()).keys;
  } catch (err) {
    if (err instanceof JwksFetchError) return { ok: false, error: JwtStatus.fetchFailed };
    throw err;
  }
  const kid = typeof header.kid === "string" ? header.kid : undefined;
  const candidates = keys.filter((k) => (kid === undefined || k.jwk.kid === undefined || k.jwk.kid === kid) && (k.jwk.alg === undefined || k.jwk.alg === alg) && ktyFits(k.jwk, alg));
  if (candidates.length === 0) return { ok: false, error: JwtStatus.kidAlgMismatch };
  for (const k of candidates) {
    try {
      await compactVerify(token, await keyFor(k, alg), { algorithms: [alg] });
      return { ok: true, payload, header, payloadSegment: parts[1] };
    } catch {
      // try the next candidate key
    }
  }
  return { ok: false, error: JwtStatus.verificationFails };
}
