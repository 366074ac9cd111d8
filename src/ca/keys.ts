// Keys in the two shapes this room needs: WebCrypto CryptoKeys for @peculiar/x509 to
// sign with, and PEM text for files and node:tls. Node's KeyObject is the bridge because
// it reads every PEM flavour a user's cacerts may hold (PKCS#8, SEC1 "EC PRIVATE KEY",
// PKCS#1 "RSA PRIVATE KEY"), which WebCrypto's importKey does not.
import { createPrivateKey, createPublicKey, webcrypto, type KeyObject } from "node:crypto";
import { x509 } from "./x509.ts";

// The project compiles without the DOM lib, so WebCrypto's types come from Node's.
export type CryptoKey = webcrypto.CryptoKey;
export type CryptoKeyPair = webcrypto.CryptoKeyPair;
type Algorithm = webcrypto.Algorithm;
type EcdsaParams = webcrypto.EcdsaParams;
type EcKeyGenParams = webcrypto.EcKeyGenParams;
type EcKeyImportParams = webcrypto.EcKeyImportParams;
type RsaHashedImportParams = webcrypto.RsaHashedImportParams;

export const subtle = webcrypto.subtle;

export const P256: EcKeyGenParams = { name: "ECDSA", namedCurve: "P-256" };
export const ECDSA_SHA256: EcdsaParams = { name: "ECDSA", hash: "SHA-256" };

export interface SigningKey {
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  /** What certificates signed with this key use as their signature algorithm. */
  signingAlgorithm: Algorithm | EcdsaParams;
}

/** A fresh ECDSA P-256 key pair, extractable so its holder can write it out as PEM. */
export async function generateP256(): Promise<CryptoKeyPair> {
  return (await subtle.generateKey(P256, true, ["sign", "verify"])) as CryptoKeyPair;
}

export async function privateKeyPem(key: CryptoKey): Promise<string> {
  const der = Buffer.from(await subtle.exportKey("pkcs8", key));
  return x509.PemConverter.encode(der, "PRIVATE KEY");
}

const CURVES: Record<string, { curve: string; hash: string }> = {
  prime256v1: { curve: "P-256", hash: "SHA-256" },
  secp384r1: { curve: "P-384", hash: "SHA-384" },
  secp521r1: { curve: "P-521", hash: "SHA-512" },
};

/**
 * Imports a PEM private key for signing certificates. `where` names the file for the
 * error message. ECDSA (P-256/384/521) and RSA keys are accepted: Istio's sample
 * cacerts are RSA, Skiff's own root is ECDSA.
 */
export async function importSigningKey(pem: string, where: string): Promise<SigningKey> {
  let keyObject: KeyObject;
  try {
    keyObject = createPrivateKey(pem);
  } catch (err) {
    throw new Error(`${where}: not a readable PEM private key (${(err as Error).message}); give an unencrypted PKCS#8, SEC1 or PKCS#1 key`);
  }
  const der = keyObject.export({ type: "pkcs8", format: "der" });
  const spki = createPublicKey(keyObject).export({ type: "spki", format: "der" });
  if (keyObject.asymmetricKeyType === "ec") {
    const named = keyObject.asymmetricKeyDetails?.namedCurve ?? "";
    const curve = CURVES[named];
    if (!curve) throw new Error(`${where}: EC curve ${named || "(unknown)"} is not supported; use P-256, P-384 or P-521`);
    const alg: EcKeyImportParams = { name: "ECDSA", namedCurve: curve.curve };
    return {
      privateKey: await subtle.importKey("pkcs8", der, alg, false, ["sign"]),
      publicKey: await subtle.importKey("spki", spki, alg, true, ["verify"]),
      signingAlgorithm: { name: "ECDSA", hash: curve.hash } as EcdsaParams,
    };
  }
  if (keyObject.asymmetricKeyType === "rsa") {
    const alg: RsaHashedImportParams = { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" };
    return {
      privateKey: await subtle.importKey("pkcs8", der, alg, false, ["sign"]),
      publicKey: await subtle.importKey("spki", spki, alg, true, ["verify"]),
      signingAlgorithm: alg,
    };
  }
  throw new Error(`${where}: ${keyObject.asymmetricKeyType} keys are not supported for a CA; use ECDSA or RSA`);
}

/** DER SubjectPublicKeyInfo of a PEM private key: to check a key belongs to a certificate. */
export function publicKeyDerOfPrivatePem(pem: string): Buffer {
  return createPublicKey(createPrivateKey(pem)).export({ type: "spki", format: "der" });
}
