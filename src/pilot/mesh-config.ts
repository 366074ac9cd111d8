// The mesh config file: Istio's `meshConfig` YAML (the `mesh` key of the istio
// ConfigMap, or the meshConfig block of an IstioOperator) → the MeshConfig translation
// reads. Parsing and validation are pure (`parseMeshConfig(text, file)`); only
// `loadMeshConfigFile` reads the disk. Every error names file:line, the field and the fix.
import { readFileSync } from "node:fs";
import { LineCounter, isMap, parseDocument, type Document } from "yaml";
import { defaultMeshConfig } from "./translate/index.ts";
import type { DefaultProviders, ExtensionProvider, MeshConfig, ProxyDefaultConfig, TracingCustomTag } from "./translate/index.ts";

export interface MeshConfigError {
  file: string;
  line: number;
  /** The field's path, `extensionProviders[0].zipkin.port`. */
  field: string;
  message: string;
}

export class MeshConfigLoadError extends Error {
  constructor(readonly errors: MeshConfigError[]) {
    super(errors.map(formatMeshConfigError).join("\n"));
  }
}

export function formatMeshConfigError(e: MeshConfigError): string {
  return `${e.file}:${e.line}: ${e.field ? `${e.field}: ` : ""}${e.message}`;
}

/** Fields Skiff reads; other Istio meshConfig fields are accepted and ignored (listed in docs/mesh-config.md). */
const KNOWN_TOP = new Set([
  "accessLogFile",
  "accessLogEncoding",
  "accessLogFormat",
  "enableTracing",
  "defaultConfig",
  "extensionProviders",
  "defaultProviders",
  "outboundTrafficPolicy",
  "trustDomain",
  "rootNamespace",
  "enableAutoMtls",
]);

type Path = (string | number)[];

class Reader {
  readonly errors: MeshConfigError[] = [];
  constructor(
    private readonly doc: Document,
    private readonly lines: LineCounter,
    private readonly file: string,
    /** Where the meshConfig map sits in the document (`[]`, or `["meshConfig"]` in a wrapper). */
    private readonly root: Path = [],
  ) {}

  lineOf(path: Path): number {
    // The nearest ancestor with a node gives the line (a missing field points at its parent).
    const full = [...this.root, ...path];
    for (let n = full.length; n >= 0; n--) {
      const node = n === 0 ? this.doc.contents : this.doc.getIn(full.slice(0, n), true);
      const range = (node as { range?: [number, number, number] } | null | undefined)?.range;
      if (range) return this.lines.linePos(range[0]).line;
    }
    return 1;
  }

  error(path: Path, message: string): void {
    this.errors.push({ file: this.file, line: this.lineOf(path), field: fieldName(path), message });
  }
}

function fieldName(path: Path): string {
  return path.reduce<string>((acc, p) => (typeof p === "number" ? `${acc}[${p}]` : acc ? `${acc}.${p}` : p), "");
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function str(r: Reader, v: unknown, path: Path): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === "string") return v;
  r.error(path, `must be a string, not ${JSON.stringify(v)}`);
  return undefined;
}

function bool(r: Reader, v: unknown, path: Path): boolean | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === "boolean") return v;
  r.error(path, `must be true or false, not ${JSON.stringify(v)}`);
  return undefined;
}

function oneOf<T extends string>(r: Reader, v: unknown, path: Path, allowed: readonly T[]): T | undefined {
  const s = str(r, v, path);
  if (s === undefined) return undefined;
  if ((allowed as readonly string[]).includes(s)) return s as T;
  r.error(path, `"${s}" is not one of ${allowed.join(", ")}`);
  return undefined;
}

function port(r: Reader, v: unknown, path: Path): number | undefined {
  if (typeof v === "number" && Number.isInteger(v) && v > 0 && v < 65536) return v;
  r.error(path, v === undefined ? "is required: the collector's port, e.g. 9411" : `must be a port number 1-65535, not ${JSON.stringify(v)}`);
  return undefined;
}

function percent(r: Reader, v: unknown, path: Path): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === "number" && v >= 0 && v <= 100) return v;
  r.error(path, `must be a percentage 0-100 (e.g. 1 or 0.5), not ${JSON.stringify(v)}`);
  return undefined;
}

function stringList(r: Reader, v: unknown, path: Path): string[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (Array.isArray(v) && v.every((x) => typeof x === "string")) return v as string[];
  r.error(path, `must be a list of provider names, e.g. [otel]`);
  return undefined;
}

function customTags(r: Reader, v: unknown, path: Path): Record<string, TracingCustomTag> | undefined {
  if (v === undefined || v === null) return undefined;
  if (!isRecord(v)) {
    r.error(path, "must be a map of tag name → {literal|environment|header}");
    return undefined;
  }
  const out: Record<string, TracingCustomTag> = {};
  for (const [name, tag] of Object.entries(v)) {
    const p = [...path, name];
    const kinds = isRecord(tag) ? Object.keys(tag).filter((k) => ["literal", "environment", "header"].includes(k)) : [];
    if (!isRecord(tag) || kinds.length !== 1) {
      r.error(p, "needs exactly one of literal: {value}, environment: {name, defaultValue}, header: {name, defaultValue}");
      continue;
    }
    const body = tag[kinds[0]];
    const key = kinds[0] === "literal" ? "value" : "name";
    if (!isRecord(body) || typeof body[key] !== "string") {
      r.error([...p, kinds[0], key], `is required (a string)`);
      continue;
    }
    out[name] = { [kinds[0]]: body } as TracingCustomTag;
  }
  return out;
}

function defaultConfig(r: Reader, v: unknown): ProxyDefaultConfig | undefined {
  if (v === undefined || v === null) return undefined;
  if (!isRecord(v)) {
    r.error(["defaultConfig"], "must be a map (ProxyConfig fields)");
    return undefined;
  }
  const tracing = v.tracing;
  if (tracing === undefined || tracing === null) return {};
  if (!isRecord(tracing)) {
    r.error(["defaultConfig", "tracing"], "must be a map: {sampling, zipkin: {address}, custom_tags}");
    return {};
  }
  const out: NonNullable<ProxyDefaultConfig["tracing"]> = {};
  const sampling = percent(r, tracing.sampling, ["defaultConfig", "tracing", "sampling"]);
  if (sampling !== undefined) out.sampling = sampling;
  if (tracing.zipkin !== undefined) {
    const address = isRecord(tracing.zipkin) ? str(r, tracing.zipkin.address, ["defaultConfig", "tracing", "zipkin", "address"]) : undefined;
    if (!isRecord(tracing.zipkin)) r.error(["defaultConfig", "tracing", "zipkin"], "must be a map: {address: host:port}");
    else if (address !== undefined && !/^[^:\s]+:\d{1,5}$/.test(address))
      r.error(["defaultConfig", "tracing", "zipkin", "address"], `"${address}" must be host:port, e.g. zipkin.istio-system:9411`);
    else out.zipkin = { address };
  }
  // Istio's ProxyConfig spells it custom_tags in YAML (proto field name); camelCase is accepted too.
  const tagsKey = tracing.custom_tags !== undefined ? "custom_tags" : "customTags";
  const tags = customTags(r, tracing[tagsKey], ["defaultConfig", "tracing", tagsKey]);
  if (tags) out.custom_tags = tags;
  if (typeof tracing.max_path_tag_length === "number") out.max_path_tag_length = tracing.max_path_tag_length;
  return { tracing: out };
}

const PROVIDER_KINDS = ["zipkin", "opentelemetry", "envoyFileAccessLog", "prometheus"] as const;

function collector(r: Reader, body: Record<string, unknown>, path: Path): { service: string; port: number; maxTagLength?: number } | undefined {
  const service = str(r, body.service, [...path, "service"]);
  if (!service) {
    if (body.service === undefined) r.error([...path, "service"], "is required: the collector's host, e.g. zipkin.istio-system.svc.cluster.local");
    return undefined;
  }
  const p = port(r, body.port, [...path, "port"]);
  if (p === undefined) return undefined;
  const out: { service: string; port: number; maxTagLength?: number } = { service, port: p };
  if (typeof body.maxTagLength === "number") out.maxTagLength = body.maxTagLength;
  return out;
}

function extensionProvider(r: Reader, v: unknown, i: number, seen: Set<string>): ExtensionProvider | undefined {
  const path: Path = ["extensionProviders", i];
  if (!isRecord(v)) {
    r.error(path, "must be a map: {name, zipkin|opentelemetry|envoyFileAccessLog|prometheus: {...}}");
    return undefined;
  }
  const name = str(r, v.name, [...path, "name"]);
  if (!name) {
    if (v.name === undefined) r.error(path, "needs a name (Telemetry resources and defaultProviders refer to it)");
    return undefined;
  }
  if (seen.has(name)) {
    r.error([...path, "name"], `"${name}" is used by an earlier provider; provider names must be unique`);
    return undefined;
  }
  seen.add(name);
  const kinds = Object.keys(v).filter((k) => k !== "name");
  const known = kinds.filter((k): k is (typeof PROVIDER_KINDS)[number] => (PROVIDER_KINDS as readonly string[]).includes(k));
  if (known.length !== 1 || kinds.length !== 1) {
    const unknown = kinds.filter((k) => !known.includes(k as never));
    r.error(
      path,
      unknown.length > 0
        ? `provider "${name}": kind ${unknown.join(", ")} is not supported by Skiff; use one of ${PROVIDER_KINDS.join(", ")}`
        : `provider "${name}" needs exactly one of ${PROVIDER_KINDS.join(", ")}`,
    );
    return undefined;
  }
  const kind = known[0];
  const body = v[kind] ?? {};
  const bodyPath = [...path, kind];
  if (!isRecord(body)) {
    r.error(bodyPath, "must be a map");
    return undefined;
  }
  switch (kind) {
    case "prometheus":
      return { name, prometheus: {} };
    case "zipkin": {
      const c = collector(r, body, bodyPath);
      if (!c) return undefined;
      const p = str(r, body.path, [...bodyPath, "path"]);
      return { name, zipkin: p ? { ...c, path: p } : c };
    }
    case "opentelemetry": {
      const c = collector(r, body, bodyPath);
      if (!c) return undefined;
      if (body.grpc !== undefined && body.http !== undefined) {
        r.error(bodyPath, "set http or grpc, not both");
        return undefined;
      }
      if (body.grpc !== undefined) return { name, opentelemetry: { ...c, grpc: isRecord(body.grpc) ? body.grpc : {} } };
      const http = isRecord(body.http) ? body.http : {};
      const out: { path?: string; timeout?: string } = {};
      const p = str(r, http.path, [...bodyPath, "http", "path"]);
      if (p) out.path = p;
      const t = str(r, http.timeout, [...bodyPath, "http", "timeout"]);
      if (t) out.timeout = t;
      // Neither http nor grpc: Istio exports OTLP over gRPC.
      return { name, opentelemetry: body.http !== undefined ? { ...c, http: out } : { ...c, grpc: {} } };
    }
    case "envoyFileAccessLog": {
      const out: NonNullable<ExtensionProvider["envoyFileAccessLog"]> = {};
      const p = str(r, body.path, [...bodyPath, "path"]);
      if (p) out.path = p;
      if (body.logFormat !== undefined) {
        const lf = body.logFormat;
        if (!isRecord(lf) || (lf.text === undefined) === (lf.labels === undefined)) {
          r.error([...bodyPath, "logFormat"], "needs exactly one of text: \"FORMAT\" or labels: {key: \"%OPERATOR%\"}");
          return undefined;
        }
        if (lf.text !== undefined) {
          const text = str(r, lf.text, [...bodyPath, "logFormat", "text"]);
          if (text === undefined) return undefined;
          out.logFormat = { text };
        } else if (isRecord(lf.labels) && Object.values(lf.labels).every((x) => typeof x === "string")) {
          out.logFormat = { labels: lf.labels as Record<string, string> };
        } else {
          r.error([...bodyPath, "logFormat", "labels"], "must be a map of JSON key → format string");
          return undefined;
        }
      }
      return { name, envoyFileAccessLog: out };
    }
  }
}

function defaultProviders(r: Reader, v: unknown, names: Set<string>): DefaultProviders | undefined {
  if (v === undefined || v === null) return undefined;
  if (!isRecord(v)) {
    r.error(["defaultProviders"], "must be a map: {metrics, tracing, accessLogging}");
    return undefined;
  }
  const out: DefaultProviders = {};
  for (const key of ["metrics", "tracing", "accessLogging"] as const) {
    const list = stringList(r, v[key], ["defaultProviders", key]);
    if (!list) continue;
    list.forEach((name, i) => {
      if (!names.has(name)) r.error(["defaultProviders", key, i], `provider "${name}" is not defined; add it to extensionProviders (built in: ${[...BUILTIN_PROVIDERS].join(", ")})`);
    });
    out[key] = list;
  }
  for (const key of Object.keys(v)) if (!["metrics", "tracing", "accessLogging"].includes(key)) r.error(["defaultProviders", key], "unknown field; use metrics, tracing or accessLogging");
  return out;
}

/** Provider names that exist without an extensionProviders entry (Istio's built-ins). */
export const BUILTIN_PROVIDERS: ReadonlySet<string> = new Set(["prometheus", "envoy"]);

/**
 * Parses a mesh config text. The document may be the meshConfig map itself or a
 * ConfigMap-like wrapper with `mesh:` (a YAML string or map) or `meshConfig:`.
 */
export function parseMeshConfig(text: string, file: string, base: MeshConfig = defaultMeshConfig): MeshConfig {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false });
  if (doc.errors.length > 0) {
    const e = doc.errors[0];
    throw new MeshConfigLoadError([{ file, line: lines.linePos(e.pos[0]).line, field: "", message: `not valid YAML: ${e.message.split("\n")[0]}` }]);
  }
  let raw: unknown = doc.toJS();
  if (raw === null || raw === undefined) return { ...base };
  if (!isRecord(raw) || !isMap(doc.contents)) throw new MeshConfigLoadError([{ file, line: 1, field: "", message: "a mesh config must be a YAML map of meshConfig fields (accessLogFile: /dev/stdout, ...)" }]);
  const wrapped = isRecord(raw.data) && typeof raw.data.mesh === "string" ? raw.data.mesh : raw.meshConfig ?? raw.mesh;
  if (typeof wrapped === "string") {
    // A ConfigMap's `mesh` is a YAML text of its own; lines are counted inside it.
    return parseMeshConfig(wrapped, `${file} (mesh)`, base);
  }
  let root: Path = [];
  if (isRecord(wrapped)) {
    root = [raw.meshConfig !== undefined ? "meshConfig" : "mesh"];
    raw = wrapped;
  }
  const r = new Reader(doc, lines, file, root);
  const m = raw as Record<string, unknown>;
  const out: MeshConfig = { ...base };
  for (const key of Object.keys(m)) if (!KNOWN_TOP.has(key) && !IGNORED_TOP.has(key)) r.error([key], `unknown meshConfig field (Skiff reads ${[...KNOWN_TOP].join(", ")})`);

  const file_ = str(r, m.accessLogFile, ["accessLogFile"]);
  if (file_ !== undefined) out.accessLogFile = file_;
  const encoding = oneOf(r, m.accessLogEncoding, ["accessLogEncoding"], ["TEXT", "JSON"] as const);
  if (encoding) out.accessLogEncoding = encoding;
  const format = str(r, m.accessLogFormat, ["accessLogFormat"]);
  if (format !== undefined) {
    out.accessLogFormat = format;
    if ((encoding ?? "TEXT") === "JSON" && format.trim() !== "") {
      let ok = false;
      try {
        const parsed: unknown = JSON.parse(format);
        ok = isRecord(parsed) && Object.values(parsed).every((x) => typeof x === "string");
      } catch {
        ok = false;
      }
      if (!ok) r.error(["accessLogFormat"], `with accessLogEncoding JSON this must be a JSON object of key → format string, e.g. '{"code": "%RESPONSE_CODE%"}'`);
    }
  }
  const tracing = bool(r, m.enableTracing, ["enableTracing"]);
  if (tracing !== undefined) out.enableTracing = tracing;
  const dc = defaultConfig(r, m.defaultConfig);
  if (dc) out.defaultConfig = dc;
  const names = new Set(BUILTIN_PROVIDERS);
  if (m.extensionProviders !== undefined && m.extensionProviders !== null) {
    if (!Array.isArray(m.extensionProviders)) r.error(["extensionProviders"], "must be a list of providers: - name: ...");
    else {
      const seen = new Set<string>();
      const providers = m.extensionProviders.map((p, i) => extensionProvider(r, p, i, seen)).filter((p): p is ExtensionProvider => p !== undefined);
      for (const p of providers) names.add(p.name);
      out.extensionProviders = providers;
    }
  }
  const dp = defaultProviders(r, m.defaultProviders, names);
  if (dp) out.defaultProviders = dp;
  if (m.outboundTrafficPolicy !== undefined) {
    const otp = m.outboundTrafficPolicy;
    const mode = isRecord(otp) ? oneOf(r, otp.mode, ["outboundTrafficPolicy", "mode"], ["ALLOW_ANY", "REGISTRY_ONLY"] as const) : undefined;
    if (!isRecord(otp)) r.error(["outboundTrafficPolicy"], "must be a map: {mode: ALLOW_ANY | REGISTRY_ONLY}");
    if (mode) out.outboundTrafficPolicy = { mode };
  }
  const td = str(r, m.trustDomain, ["trustDomain"]);
  if (td !== undefined) {
    if (td === "" || /[\s/]/.test(td)) r.error(["trustDomain"], `"${td}" is not a trust domain; use a DNS-like name such as cluster.local`);
    else out.trustDomain = td;
  }
  const rootNs = str(r, m.rootNamespace, ["rootNamespace"]);
  if (rootNs !== undefined) {
    if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(rootNs)) r.error(["rootNamespace"], `"${rootNs}" is not a namespace name (lower case letters, digits, '-')`);
    else out.rootNamespace = rootNs;
  }
  const autoMtls = bool(r, m.enableAutoMtls, ["enableAutoMtls"]);
  if (autoMtls !== undefined) out.enableAutoMtls = autoMtls;

  if (r.errors.length > 0) throw new MeshConfigLoadError(r.errors.sort((a, b) => a.line - b.line));
  return out;
}

/** Istio meshConfig fields Skiff accepts without acting on them (so a real Istio mesh config loads). */
const IGNORED_TOP = new Set([
  "connectTimeout",
  "protocolDetectionTimeout",
  "ingressClass",
  "ingressService",
  "ingressControllerMode",
  "ingressSelector",
  "enablePrometheusMerge",
  "defaultServiceExportTo",
  "defaultVirtualServiceExportTo",
  "defaultDestinationRuleExportTo",
  "localityLbSetting",
  "dnsRefreshRate",
  "h2UpgradePolicy",
  "inboundClusterStatName",
  "outboundClusterStatName",
  "certificates",
  "thriftConfig",
  "serviceSettings",
  "discoverySelectors",
  "pathNormalization",
  "meshMTLS",
  "tlsDefaults",
  "caCertificates",
  "trustDomainAliases",
  "verifyCertificateAtClient",
  "enableEnvoyAccessLogService",
  "proxyListenPort",
  "proxyInboundListenPort",
  "proxyHttpPort",
  "tcpKeepalive",
  "extensionProvidersDefaults",
]);

/** Reads and parses a mesh config file (the I/O edge). */
export function loadMeshConfigFile(file: string, base: MeshConfig = defaultMeshConfig): MeshConfig {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new MeshConfigLoadError([{ file, line: 1, field: "", message: `cannot read the mesh config: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` }]);
  }
  return parseMeshConfig(text, file, base);
}
