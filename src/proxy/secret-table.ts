// `skiff proxy-config secret`: the proxy's SDS secrets from a SecretsConfigDump, as
// istioctl shows them (name, type, status, serial, validity) plus the SPIFFE ID and the
// certificate chain. Parsing uses node:crypto's X509Certificate.
import { X509Certificate } from "node:crypto";

type Json = Record<string, unknown>;

function pemBlocks(base64: unknown): X509Certificate[] {
  if (typeof base64 !== "string") return [];
  const text = Buffer.from(base64, "base64").toString("utf8");
  return (text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).map((p) => new X509Certificate(p));
}

const uri = (c: X509Certificate): string => (c.subjectAltName ?? "").split(/,\s*/).find((p) => p.startsWith("URI:"))?.slice(4) ?? "";
const iso = (d: string): string => new Date(d).toISOString().replace(/\.000Z$/, "Z");

/** Table rows for every secret, then each certificate of each chain. */
export function secretTable(dump: Json, now = new Date()): string {
  const entries = Array.isArray(dump.dynamic_active_secrets) ? (dump.dynamic_active_secrets as Json[]) : [];
  const header = ["RESOURCE NAME", "TYPE", "STATUS", "VALID CERT", "SERIAL NUMBER", "NOT AFTER", "NOT BEFORE", "SPIFFE ID"];
  const rows: string[][] = [];
  const chains: string[] = [];
  for (const e of entries) {
    const secret = (e.secret ?? {}) as Json;
    const name = String(e.name ?? secret.name ?? "");
    const tlsCert = secret.tls_certificate as Json | undefined;
    const validation = secret.validation_context as Json | undefined;
    const certs = tlsCert ? pemBlocks((tlsCert.certificate_chain as Json | undefined)?.inline_bytes) : pemBlocks((validation?.trusted_ca as Json | undefined)?.inline_bytes);
    const first = certs[0];
    const valid = first !== undefined && new Date(first.validFrom) <= now && now < new Date(first.validTo);
    rows.push([name, tlsCert ? "Cert Chain" : "CA", "ACTIVE", String(valid), first?.serialNumber.toLowerCase() ?? "", first ? iso(first.validTo) : "", first ? iso(first.validFrom) : "", first ? uri(first) : ""]);
    certs.forEach((c, i) => chains.push(`${name}[${i}]  serial ${c.serialNumber.toLowerCase()}  subject "${(c.subject ?? "").replaceAll("\n", ", ")}"  issuer "${(c.issuer ?? "").replaceAll("\n", ", ")}"  ${iso(c.validFrom)} .. ${iso(c.validTo)}${uri(c) ? `  ${uri(c)}` : ""}`));
  }
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]): string => r.map((v, i) => v.padEnd(widths[i])).join("   ").trimEnd();
  const table = [line(header), ...rows.map(line)].join("\n");
  return chains.length ? `${table}\n\nCHAIN\n${chains.join("\n")}` : table;
}
