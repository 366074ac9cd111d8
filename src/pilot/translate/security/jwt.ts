// RequestAuthentication → envoy.filters.http.jwt_authn. Every RequestAuthentication that
// applies to the proxy (mesh, namespace, workload) contributes its jwtRules, one provider
// each (`origins-<i>`, Istio's names). The single rule requires any one provider or no
// token at all (`allow_missing`): a request without a token passes unauthenticated, one
// with a token no provider accepts gets 401 — Istio's shape. Requiring a token is
// AuthorizationPolicy's job (requestPrincipals).
//
// Keys: inline `jwks` → local_jwks. `jwksUri` → remote_jwks fetched by the proxy through
// a cluster: the mesh service's own outbound cluster when the URI's host:port is a
// visible service, else a dedicated `jwks|<host>|<port>` cluster built here
// (STATIC for an IP, STRICT_DNS otherwise; TLS with the system roots for https).
import type { JWTRule } from "../../../api/kinds.ts";
import type { ProxyView } from "../context.ts";
import { clusterName } from "../context.ts";
import type { EnvoyJson, TranslationProblem } from "../types.ts";
import { FilterName, socketAddress, toEnvoyDuration, typed } from "../envoy-json.ts";
import { DEFAULT_CONNECT_TIMEOUT } from "../policy.ts";
import { TlsType } from "./identity.ts";
import { resourceId, selectPolicies } from "./selection.ts";

export const JWT_FILTER_NAME = "envoy.filters.http.jwt_authn";
export const JwtType = "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication";

/** How long a fetched JWKS is kept (Istio refreshes keys every 20 minutes). */
export const JWKS_CACHE_DURATION = "1200s";
/** Istio's default jwksUri fetch timeout. */
export const JWKS_FETCH_TIMEOUT = "5s";
const SYSTEM_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt";

export interface JwtResult {
  /** The jwt_authn filter, or undefined when no RequestAuthentication applies. */
  filter?: EnvoyJson;
  /** Clusters the proxy fetches remote JWKS through (not already among its clusters). */
  clusters: EnvoyJson[];
}

interface JwksTarget {
  host: string;
  port: number;
  https: boolean;
}

function parseJwksUri(uri: string): JwksTarget | undefined {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return undefined;
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return undefined;
  const https = url.protocol === "https:";
  const host = url.hostname.replace(/^\[|\]$/g, "");
  return { host, port: url.port ? Number(url.port) : https ? 443 : 80, https };
}

function isIpLiteral(host: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(host) || host.includes(":");
}

/** A cluster the proxy can fetch `target` through, outside the mesh's own clusters. */
export function jwksCluster(name: string, target: JwksTarget): EnvoyJson {
  const cluster: EnvoyJson = {
    name,
    type: isIpLiteral(target.host) ? "STATIC" : "STRICT_DNS",
    connect_timeout: DEFAULT_CONNECT_TIMEOUT,
    load_assignment: {
      cluster_name: name,
      endpoints: [{ lb_endpoints: [{ endpoint: { address: socketAddress(target.host, target.port) } }] }],
    },
  };
  if (!isIpLiteral(target.host)) cluster.dns_lookup_family = "V4_ONLY";
  if (target.https) {
    cluster.transport_socket = {
      name: FilterName.tlsTransport,
      typed_config: typed(TlsType.upstream, {
        sni: target.host,
        common_tls_context: {
          validation_context: {
            trusted_ca: { filename: SYSTEM_CA_BUNDLE },
            match_typed_subject_alt_names: [{ san_type: "DNS", matcher: { exact: target.host } }],
          },
        },
      }),
    };
  }
  return cluster;
}

/** The cluster name for a jwksUri: the mesh service's cluster if there is one. */
function jwksClusterName(view: ProxyView, target: JwksTarget): { name: string; own: boolean } {
  const service = view.service(target.host);
  if (service && service.ports.some((p) => p.port === target.port)) {
    return { name: clusterName("outbound", target.port, "", service.hostname), own: false };
  }
  return { name: `jwks|${target.host}|${target.port}`, own: true };
}

function provider(
  view: ProxyView,
  rule: JWTRule,
  report: (message: string) => void,
  clusters: Map<string, EnvoyJson>,
  tls: boolean,
): EnvoyJson | undefined {
  const p: EnvoyJson = { issuer: rule.issuer };
  if (rule.audiences && rule.audiences.length > 0) p.audiences = [...rule.audiences];
  if (rule.jwks !== undefined && rule.jwks !== "") {
    p.local_jwks = { inline_string: rule.jwks };
  } else if (rule.jwksUri) {
    const target = parseJwksUri(rule.jwksUri);
    if (!target) {
      report(`jwksUri "${rule.jwksUri}" is not an http(s) URL; write e.g. https://idp.example.com/.well-known/jwks.json`);
      return undefined;
    }
    if (target.https && !tls && jwksClusterName(view, target).own) {
      report(`jwksUri "${rule.jwksUri}" is https, but this proxy cannot originate TLS (node metadata SKIFF_TLS "false"); the issuer's tokens cannot be verified. Serve the keys over http, or inline them with jwks.`);
      return undefined;
    }
    const timeout = rule.timeout ? toEnvoyDuration(rule.timeout) : JWKS_FETCH_TIMEOUT;
    if (timeout === undefined) report(`timeout "${rule.timeout}" is not a duration; using ${JWKS_FETCH_TIMEOUT}`);
    const { name, own } = jwksClusterName(view, target);
    if (own && !clusters.has(name)) clusters.set(name, jwksCluster(name, target));
    p.remote_jwks = {
      http_uri: { uri: rule.jwksUri, cluster: name, timeout: timeout ?? JWKS_FETCH_TIMEOUT },
      cache_duration: JWKS_CACHE_DURATION,
    };
  } else {
    report(`neither jwks nor jwksUri is set for issuer "${rule.issuer}"; tokens of this issuer cannot be verified. Set jwksUri (or inline jwks).`);
    return undefined;
  }
  if (rule.fromHeaders && rule.fromHeaders.length > 0) {
    p.from_headers = rule.fromHeaders.map((h) => (h.prefix ? { name: h.name, value_prefix: h.prefix } : { name: h.name }));
  }
  if (rule.fromParams && rule.fromParams.length > 0) p.from_params = [...rule.fromParams];
  if (rule.fromCookies && rule.fromCookies.length > 0) p.from_cookies = [...rule.fromCookies];
  if (rule.forwardOriginalToken) p.forward = true;
  if (rule.outputPayloadToHeader) p.forward_payload_header = rule.outputPayloadToHeader;
  if (rule.outputClaimToHeaders && rule.outputClaimToHeaders.length > 0) {
    p.claim_to_headers = rule.outputClaimToHeaders.map((c) => ({ header_name: c.header, claim_name: c.claim }));
  }
  // The verified payload is kept in dynamic metadata under the issuer (Istio); the
  // proxy derives istio_authn's request.auth.* from it for RBAC.
  p.payload_in_metadata = rule.issuer;
  return p;
}

/** `tls`: whether the proxy can fetch https JWKS itself (it cannot with SKIFF_TLS "false"). */
export function buildJwt(view: ProxyView, problems: TranslationProblem[], tls = true): JwtResult {
  const providers: EnvoyJson = {};
  const names: string[] = [];
  const clusters = new Map<string, EnvoyJson>();
  for (const { resource } of selectPolicies(view, "RequestAuthentication")) {
    (resource.spec.jwtRules ?? []).forEach((rule, i) => {
      const report = (message: string): void => {
        problems.push({ resource: resourceId(resource), message: `spec.jwtRules[${i}]: ${message}` });
      };
      const built = provider(view, rule, report, clusters, tls);
      if (!built) return;
      const name = `origins-${names.length}`;
      providers[name] = built;
      names.push(name);
    });
  }
  if (names.length === 0) return { clusters: [...clusters.values()] };
  const config = {
    providers,
    rules: [
      {
        match: { prefix: "/" },
        requires: { requires_any: { requirements: [...names.map((provider_name) => ({ provider_name })), { allow_missing: {} }] } },
      },
    ],
    bypass_cors_preflight: true,
  };
  return { filter: { name: JWT_FILTER_NAME, typed_config: typed(JwtType, config) }, clusters: [...clusters.values()] };
}
