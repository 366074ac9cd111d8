// The IdP's token signing key. Kept in a file (0600) so that a restarted IdP signs with the
// same key: the gateway caches the JWKS (remote_jwks cache_duration), and a new key on every
// start would make it refuse fresh tokens until its cache expired.
import fs from "node:fs";
import path from "node:path";
import { exportJWK, generateKeyPair, type JWK } from "jose";

export async function loadOrCreateSigningKey(file: string): Promise<JWK> {
  try {
    const stored = JSON.parse(fs.readFileSync(file, "utf8")) as JWK;
    if (stored.kty === "RSA" && typeof stored.d === "string") return stored;
    throw new Error("not an RSA private JWK");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") {
      throw new Error(`KEY_FILE ${file}: ${(error as Error).message}; delete it to make a new key`);
    }
  }
  const { privateKey } = await generateKeyPair("RS256", { extractable: true });
  const jwk: JWK = { ...(await exportJWK(privateKey)), alg: "RS256", use: "sig", kid: `skiff-idp-${Date.now().toString(36)}` };
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify(jwk), { mode: 0o600 });
  return jwk;
}
