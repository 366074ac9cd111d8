// Service-account tokens of the local runtime: how a workload proves to the CA who it
// is. The runtime holds an ES256 key, hands each workload a compact JWS naming its
// service account, and the CA trusts the runtime's public key — the same shape as a
// Kubernetes projected token (iss/sub/aud/exp) so a Kubernetes verifier can slot in later.
import { mkdir, readFile, writeFile, rename, chmod } from "node:fs/promises";
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from "node:crypto";
import { join } from "node:path";
import { SignJWT, jwtVerify, errors as joseErrors } from "jose";
import { CaError } from "./errors.ts";
import { isValidName, type WorkloadIdentity } from "./spiffe.ts";

export const RUNTIME_ISSUER = "skiff-runtime";
export const CA_AUDIENCE = "skiff-ca";

/**
 * How long the tokens `skiff up` hands its workloads live: a year. The agent re-reads its
 * token for every certificate request, and the runtime does not re-mint tokens while a
 * workload runs, so a shorter life would stop a long-running local mesh from rotating
 * (its certificates would expire with the token). A long life costs nothing here that a
 * short one would protect: the token file sits, mode 0600, in the same run directory as
 * the runtime's signing key, and it can buy only a certificate for its own service
 * account from this mesh's CA. A new `skiff up` mints new tokens.
 */
export const RUNTIME_TOKEN_TTL_SECONDS = 365 * 24 * 3600;

declare const verified: unique symbol;
/**
 * An identity a verifier has checked. Only a TokenVerifier makes these, so MeshCa.sign
 * cannot be handed an identity nobody proved (the brand is not constructible elsewhere).
 */
export type VerifiedIdentity = WorkloadIdentity & { readonly [verified]: true };

/** What the CA service needs: turn a bearer token into a proven identity, or refuse. */
export interface TokenVerifier {
  verify(token: string): Promise<VerifiedIdentity>;
}

const SUBJECT = /^system:serviceaccount:([^:]+):([^:]+)$/;

export function serviceAccountSubject(identity: WorkloadIdentity): string {
  return `system:serviceaccount:${identity.namespace}:${identity.serviceAccount}`;
}

/** The runtime side: signs tokens for the workloads it starts. */
export class RuntimeTokenIssuer {
  readonly #privateKey: KeyObject;
  readonly publicKeyPem: string;

  constructor(privateKeyPem: string) {
    this.#privateKey = createPrivateKey(privateKeyPem);
    if (this.#privateKey.asymmetricKeyType !== "ec" || this.#privateKey.asymmetricKeyDetails?.namedCurve !== "prime256v1") {
      throw new Error("runtime token key: must be an ECDSA P-256 key (tokens are ES256)");
    }
    this.publicKeyPem = createPublicKey(this.#privateKey).export({ type: "spki", format: "pem" }).toString();
  }

  static generate(): RuntimeTokenIssuer {
    const { privateKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
    return new RuntimeTokenIssuer(privateKey.export({ type: "pkcs8", format: "pem" }).toString());
  }

  /** Keeps the runtime key in `dir/token-key.pem` so tokens survive a runtime restart. */
  static async loadOrCreate(dir: string): Promise<RuntimeTokenIssuer> {
    const path = join(dir, "token-key.pem");
    try {
      return new RuntimeTokenIssuer(await readFile(path, "utf8"));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    }
    const issuer = RuntimeTokenIssuer.generate();
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const tmp = `${path}.tmp-${process.pid}`;
    await writeFile(tmp, issuer.#privateKey.export({ type: "pkcs8", format: "pem" }).toString(), { mode: 0o600 });
    await chmod(tmp, 0o600);
    await rename(tmp, path);
    return issuer;
  }

  /** A compact JWS for one service account, valid `ttlSeconds` from `now` (ms). */
  async issue(identity: WorkloadIdentity, opts: { ttlSeconds?: number; now?: number } = {}): Promise<string> {
    if (!isValidName(identity.namespace) || !isValidName(identity.serviceAccount)) {
      throw new Error(`runtime token: namespace "${identity.namespace}" and service account "${identity.serviceAccount}" must be Kubernetes names`);
    }
    const iat = Math.floor((opts.now ?? Date.now()) / 1000);
    return new SignJWT({})
      .setProtectedHeader({ alg: "ES256", typ: "JWT" })
      .setIssuer(RUNTIME_ISSUER)
      .setSubject(serviceAccountSubject(identity))
      .setAudience([CA_AUDIENCE])
      .setIssuedAt(iat)
      .setExpirationTime(iat + (opts.ttlSeconds ?? 24 * 3600))
      .sign(this.#privateKey);
  }
}

export interface RuntimeTokenVerifierOptions {
  /** The runtime's public key(s), PEM SPKI. Several allow a key change without downtime. */
  publicKeysPem: string[];
  now?: () => number;
}

/** The CA side: accepts only ES256 tokens from the runtime's key, for the CA audience, unexpired. */
export class RuntimeTokenVerifier implements TokenVerifier {
  readonly #keys: KeyObject[];
  readonly #now: () => number;

  constructor(opts: RuntimeTokenVerifierOptions) {
    if (opts.publicKeysPem.length === 0) throw new Error("runtime token verifier: no public key given; pass the runtime's token public key");
    this.#keys = opts.publicKeysPem.map((pem) => createPublicKey(pem));
    this.#now = opts.now ?? Date.now;
  }

  async verify(token: string): Promise<VerifiedIdentity> {
    if (!token) throw new CaError("unauthenticated", "no service-account token: send it as `authorization: Bearer <token>`");
    let lastError: unknown;
    for (const key of this.#keys) {
      try {
        const { payload } = await jwtVerify(token, key, {
          algorithms: ["ES256"],
          issuer: RUNTIME_ISSUER,
          audience: CA_AUDIENCE,
          currentDate: new Date(this.#now()),
          requiredClaims: ["sub", "exp"],
        });
        const m = SUBJECT.exec(payload.sub ?? "");
        if (!m || !isValidName(m[1]) || !isValidName(m[2])) {
          throw new CaError("unauthenticated", `service-account token: subject "${payload.sub}" is not "system:serviceaccount:<namespace>:<service-account>"`);
        }
        return { namespace: m[1], serviceAccount: m[2] } as VerifiedIdentity;
      } catch (err) {
        if (err instanceof CaError) throw err;
        lastError = err;
        // A bad signature may just mean another trusted key signed it: try the next.
        if (err instanceof joseErrors.JWSSignatureVerificationFailed) continue;
        break;
      }
    }
    throw new CaError("unauthenticated", `service-account token refused: ${describeJoseError(lastError)}`);
  }
}

function describeJoseError(err: unknown): string {
  if (err instanceof joseErrors.JWTExpired) return "it has expired (exp is in the past); the runtime must hand the workload a fresh token";
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return "its signature does not match the runtime's key (forged, or signed by another runtime)";
  if (err instanceof joseErrors.JWTClaimValidationFailed) return `claim "${err.claim}" is wrong (${err.reason}): expected iss "${RUNTIME_ISSUER}" and aud "${CA_AUDIENCE}"`;
  if (err instanceof joseErrors.JOSEAlgNotAllowed) return "it is not signed with ES256";
  if (err instanceof joseErrors.JWSInvalid || err instanceof joseErrors.JWTInvalid) return "it is not a well-formed compact JWS";
  return (err as Error)?.message ?? String(err);
}
