// Upstream TLS origination from Envoy's UpstreamTlsContext: SNI, ALPN, the client
// certificate (inline, file, or an SDS secret by name) and server verification (trusted CA
// inline/file/SDS, subject alt name matchers). Without a validation context Envoy does not
// verify the server, and neither do we.
import { readFileSync } from "node:fs";
import type { ConnectionOptions, PeerCertificate } from "node:tls";
import type { EnvoyJson, TlsSecret } from "./types.ts";


export type SecretLookup = (name: string) => TlsSecret | undefined;

type Source = { inline: string } | { sds: string };

export interface SanMatcher {
  type: "URI" | "DNS" | "IP_ADDRESS" | "EMAIL" | "ANY";
  exact?: string;
  prefix?: string;
  suffix?: string;
  contains?: string;
}

export interface TlsSpec {
  sni?: string;
  alpn: string[];
  cert?: { chain: Source; key?: Source };
  ca?: Source;
  san: SanMatcher[];
}

function obj(v: unknown): EnvoyJson | undefined {
  return v !== null && typeof v === "object" && !Array.isArray(v) ? (v as EnvoyJson) : undefined;
}

/** DataSource: inline_string / inline_bytes (base64) / filename, read once at config time. */
function dataSource(v: unknown): string {
  const d = obj(v) ?? {};
  if (typeof d.inline_string === "string") return d.inline_string;
  if (typeof d.inline_bytes === "string") return Buffer.from(d.inline_bytes, "base64").toString("utf8");
  if (typeof d.filename === "string") {
    try {
      return readFileSync(d.filename, "utf8");
    } catch (e) {
      throw new Error(`cannot read ${d.filename}: ${(e as Error).message}`);
    }
  }
  throw new Error("a data source needs inline_string, inline_bytes or filename");
}

function only(o: EnvoyJson, path: string, known: string[], add: (field: string, msg: string) => void): void {
  for (const k of Object.keys(o)) if (!known.includes(k)) add(`${path}.${k}`, "this field is not implemented by skiff's proxy; remove it or leave it unset");
}

/** Parse an UpstreamTlsContext; problems go to `add(field, message)`. */
export function parseUpstreamTls(ctx: EnvoyJson, path: string, add: (field: string, msg: string) => void): TlsSpec {
  only(ctx, path, ["@type", "sni", "common_tls_context", "allow_renegotiation", "max_session_keys", "auto_host_sni", "auto_sni_san_validation"], add);
  const spec: TlsSpec = { sni: typeof ctx.sni === "string" && ctx.sni ? ctx.sni : undefined, alpn: [], san: [] };
  if (ctx.auto_host_sni === true || ctx.auto_sni_san_validation === true) add(`${path}.auto_host_sni`, "auto SNI from the Host header is not implemented; set sni");
  const common = obj(ctx.common_tls_context) ?? {};
  const cpath = `${path}.common_tls_context`;
  only(common, cpath, ["tls_certificates", "tls_certificate_sds_secret_configs", "validation_context", "validation_context_sds_secret_config", "combined_validation_context", "alpn_protocols", "tls_params"], add);
  spec.alpn = Array.isArray(common.alpn_protocols) ? common.alpn_protocols.map(String) : [];
  const certs = Array.isArray(common.tls_certificates) ? common.tls_certificates : [];
  const sdsCerts = Array.isArray(common.tls_certificate_sds_secret_configs) ? common.tls_certificate_sds_secret_configs : [];
  if (certs.length + sdsCerts.length > 1) add(`${cpath}.tls_certificates`, "only one client certificate is supported");
  const read = (v: unknown, field: string): string => {
    try {
      return dataSource(v);
    } catch (e) {
      add(field, (e as Error).message);
      return "";
    }
  };
  if (certs.length === 1) {
    const c = obj(certs[0]) ?? {};
    const chain = read(c.certificate_chain, `${cpath}.tls_certificates[0].certificate_chain`);
    const key = read(c.private_key, `${cpath}.tls_certificates[0].private_key`);
    spec.cert = { chain: { inline: chain }, key: { inline: key } };
  } else if (sdsCerts.length === 1) {
    const name = obj(sdsCerts[0])?.name;
    if (typeof name !== "string" || !name) add(`${cpath}.tls_certificate_sds_secret_configs[0].name`, "an SDS secret needs a name");
    else spec.cert = { chain: { sds: name } };
  }
  const validation = (v: EnvoyJson, vpath: string) => {
    only(v, vpath, ["trusted_ca", "match_typed_subject_alt_names", "match_subject_alt_names"], add);
    if (v.trusted_ca !== undefined) spec.ca = { inline: read(v.trusted_ca, `${vpath}.trusted_ca`) };
    for (const [i, raw] of (Array.isArray(v.match_typed_subject_alt_names) ? v.match_typed_subject_alt_names : []).entries()) {
      const m = obj(raw) ?? {};
      spec.san.push({ type: (m.san_type as SanMatcher["type"]) ?? "ANY", ...stringMatch(obj(m.matcher) ?? {}, `${vpath}.match_typed_subject_alt_names[${i}].matcher`, add) });
    }
    for (const [i, raw] of (Array.isArray(v.match_subject_alt_names) ? v.match_subject_alt_names : []).entries()) {
      spec.san.push({ type: "ANY", ...stringMatch(obj(raw) ?? {}, `${vpath}.match_subject_alt_names[${i}]`, add) });
    }
  };
  if (obj(common.validation_context)) validation(obj(common.validation_context)!, `${cpath}.validation_context`);
  const sdsName = (v: unknown, vpath: string) => {
    const name = obj(v)?.name;
    if (typeof name === "string" && name) spec.ca = { sds: name };
    else add(`${vpath}.name`, "an SDS secret needs a name");
  };
  if (common.validation_context_sds_secret_config !== undefined) sdsName(common.validation_context_sds_secret_config, `${cpath}.validation_context_sds_secret_config`);
  const combined = obj(common.combined_validation_context);
  if (combined) {
    only(combined, `${cpath}.combined_validation_context`, ["default_validation_context", "validation_context_sds_secret_config"], add);
    if (obj(combined.default_validation_context)) validation(obj(combined.default_validation_context)!, `${cpath}.combined_validation_context.default_validation_context`);
    if (combined.validation_context_sds_secret_config !== undefined) sdsName(combined.validation_context_sds_secret_config, `${cpath}.combined_validation_context.validation_context_sds_secret_config`);
  }
  return spec;
}

function stringMatch(m: EnvoyJson, path: string, add: (field: string, msg: string) => void): Omit<SanMatcher, "type"> {
  for (const k of ["exact", "prefix", "suffix", "contains"] as const) if (typeof m[k] === "string") return { [k]: m[k] as string };
  add(path, "only exact, prefix, suffix and contains subject alt name matchers are implemented");
  return {};
}

function resolve(source: Source | undefined, secrets: SecretLookup | undefined, pick: (s: TlsSecret) => string | undefined): string | undefined {
  if (!source) return undefined;
  if ("inline" in source) return source.inline;
  const secret = secrets?.(source.sds);
  const value = secret && pick(secret);
  if (!value) throw new Error(`SDS secret "${source.sds}" is not available yet`);
  return value;
}

/** The SANs of a peer certificate, as [type, value] pairs. */
export function peerSans(cert: PeerCertificate): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const part of (cert.subjectaltname ?? "").split(/,\s*/)) {
    const i = part.indexOf(":");
    if (i > 0) out.push([part.slice(0, i), part.slice(i + 1)]);
  }
  return out;
}

export const SAN_TYPES: Record<SanMatcher["type"], string[]> = { URI: ["URI"], DNS: ["DNS"], IP_ADDRESS: ["IP Address"], EMAIL: ["email"], ANY: ["URI", "DNS", "IP Address", "email"] };

export function sanMatches(m: SanMatcher, value: string): boolean {
  if (m.exact !== undefined) return value === m.exact;
  if (m.prefix !== undefined) return value.startsWith(m.prefix);
  if (m.suffix !== undefined) return value.endsWith(m.suffix);
  if (m.contains !== undefined) return value.includes(m.contains);
  return false;
}

/**
 * Node TLS connect options for `spec`, resolving SDS secrets now (they rotate); throws a
 * sentence when a secret has not arrived.
 */
export function tlsConnectOptions(spec: TlsSpec, secrets: SecretLookup | undefined, h2: boolean): ConnectionOptions {
  const cert = resolve(spec.cert?.chain, secrets, (s) => s.certificateChain);
  const key = spec.cert?.key ? resolve(spec.cert.key, secrets, (s) => s.privateKey) : spec.cert ? resolve(spec.cert.chain, secrets, (s) => s.privateKey) : undefined;
  const ca = resolve(spec.ca, secrets, (s) => s.trustedCa);
  const alpn = h2 && !spec.alpn.includes("h2") ? ["h2", ...spec.alpn] : spec.alpn;
  const sanList = spec.san;
  return {
    servername: spec.sni,
    ALPNProtocols: alpn.length ? alpn : undefined,
    cert,
    key,
    ca,
    // Envoy verifies the chain only when a validation context has a trusted CA, and checks
    // names only against the configured SAN matchers (never the SNI/hostname).
    rejectUnauthorized: ca !== undefined,
    checkServerIdentity: (_host, peer) => {
      if (sanList.length === 0) return undefined;
      const sans = peerSans(peer);
      const ok = sanList.some((m) => sans.some(([t, v]) => SAN_TYPES[m.type].includes(t) && sanMatches(m, v)));
      return ok ? undefined : new Error(`upstream certificate SANs (${peer.subjectaltname ?? "none"}) match none of the configured subject alt names`);
    },
  };
}
