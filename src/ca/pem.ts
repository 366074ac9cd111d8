// PEM bundles: files and gRPC responses carry several certificates in one text.
import { X509Certificate } from "node:crypto";

const CERT_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** Each certificate of a PEM bundle as its own normalised PEM text (ending in a newline). */
export function splitPemCertificates(text: string): string[] {
  return (text.match(CERT_BLOCK) ?? []).map((block) => `${block.trim()}\n`);
}

/** Parses every certificate of a bundle; `where` names the file for errors. */
export function parseCertificates(text: string, where: string): X509Certificate[] {
  const blocks = splitPemCertificates(text);
  if (blocks.length === 0) throw new Error(`${where}: holds no PEM certificate (expected "-----BEGIN CERTIFICATE-----" blocks)`);
  return blocks.map((block, i) => {
    try {
      return new X509Certificate(block);
    } catch (err) {
      throw new Error(`${where}: certificate #${i + 1} cannot be parsed (${(err as Error).message})`);
    }
  });
}

export function pemOf(cert: X509Certificate): string {
  return cert.toString().endsWith("\n") ? cert.toString() : `${cert.toString()}\n`;
}

/** Same certificate bytes. */
export function sameCertificate(a: X509Certificate, b: X509Certificate): boolean {
  return a.raw.equals(b.raw);
}
