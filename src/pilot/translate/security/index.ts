// Security translation's public face: everything translate() plugs into the builders'
// hooks for one proxy — the HTTP filters (jwt_authn, then RBAC) for its connection
// managers, the inbound chain decorator (mTLS per PeerAuthentication, network RBAC on
// TCP chains), the outbound cluster decorator (ISTIO_MUTUAL / auto mTLS) and the extra
// clusters remote JWKS are fetched through. Pure: reads the proxy view only.
import type { ClusterOptions } from "../clusters.ts";
import type { ProxyView } from "../context.ts";
import type { EnvoyJson, TranslationProblem } from "../types.ts";
import { FilterName } from "../envoy-json.ts";
import { decorateOutboundMtls } from "./auto-mtls.ts";
import { buildJwt } from "./jwt.ts";
import type { ChainKind } from "./peer-authentication.ts";
import { chainsForMode, peerAuthnModes } from "./peer-authentication.ts";
import { httpRbacFilters, networkRbacFilters } from "./rbac.ts";

export { ROOT_SECRET, WORKLOAD_SECRET, spiffeId, meshSni } from "./identity.ts";
export type { ChainKind, EffectiveMtls } from "./peer-authentication.ts";
export { peerAuthnModes, namespaceMtlsMode, endpointTlsModes } from "./peer-authentication.ts";
export { rulePolicy } from "./rbac-rules.ts";
export { AUTHN_METADATA_FILTER } from "./rbac-matchers.ts";

export interface ProxySecurity {
  /** HTTP filters for the `security` slot: jwt_authn, then RBAC (AUDIT, DENY, ALLOW). */
  httpFilters: EnvoyJson[];
  /** Inbound chain decorator: one plaintext chain in, the chains the port's mTLS mode needs out. */
  decorateChain: (chain: EnvoyJson, port: number, kind: ChainKind) => EnvoyJson[];
  clusterOptions: ClusterOptions;
  /** Clusters to add (remote JWKS); names never clash with service clusters. */
  extraClusters: EnvoyJson[];
}

/** Puts the network RBAC filters in front of a TCP chain's tcp_proxy. */
function withNetworkRbac(chain: EnvoyJson, filters: EnvoyJson[]): EnvoyJson {
  if (filters.length === 0) return chain;
  const existing = (chain.filters as EnvoyJson[] | undefined) ?? [];
  if (!existing.some((f) => f.name === FilterName.tcpProxy)) return chain;
  return { ...chain, filters: [...filters, ...existing] };
}

/** Node metadata key by which a proxy says it cannot do TLS (`"false"`); Envoy never sends it. */
export const TLS_CAPABILITY_KEY = "SKIFF_TLS";

/** Whether the proxy can terminate and originate TLS (any proxy that does not say otherwise). */
export function supportsTls(view: ProxyView): boolean {
  const value = view.proxy.metadata[TLS_CAPABILITY_KEY];
  return value !== "false" && value !== false;
}

/** Without TLS an ISTIO_MUTUAL rule cannot be honoured: say so instead of failing silently. */
function reportNoTls(problems: TranslationProblem[]): NonNullable<ClusterOptions["decorateOutbound"]> {
  return (cluster, info, view) => {
    if (info.tlsMode !== "ISTIO_MUTUAL") return;
    const dr = view.destinationRule(info.service.hostname);
    problems.push({
      resource: dr?.sources[0] ?? info.service.origin,
      message: `cluster ${String(cluster.name)}: tls mode ISTIO_MUTUAL, but proxy ${view.proxy.podName} cannot originate TLS (node metadata ${TLS_CAPABILITY_KEY} "false"); it connects in plaintext.`,
    });
  };
}

/**
 * The outbound cluster decorator alone (mesh mTLS, or the no-TLS report): what the
 * outbound clusters need of security, so they can be built without the rest (the
 * outbound side is built once per proxy scope and shared).
 */
export function outboundClusterOptions(view: ProxyView, problems: TranslationProblem[]): ClusterOptions {
  // Without TLS the proxy gets plaintext clusters (and NACKs nothing).
  return supportsTls(view) ? { decorateOutbound: decorateOutboundMtls } : { decorateOutbound: reportNoTls(problems) };
}

export function proxySecurity(view: ProxyView, problems: TranslationProblem[]): ProxySecurity {
  const tls = supportsTls(view);
  const jwt = buildJwt(view, problems, tls);
  const httpFilters = [...(jwt.filter ? [jwt.filter] : []), ...httpRbacFilters(view, problems)];
  let tcpRbac: EnvoyJson[] | undefined;
  const modes = view.proxy.type === "sidecar" ? peerAuthnModes(view, problems) : undefined;
  const proxyId = `Proxy/${view.proxy.namespace}/${view.proxy.podName}`;
  return {
    httpFilters,
    decorateChain: (chain, port, kind) => {
      const tcp = kind === "tcp" || kind === "sniffed-tcp";
      // Network RBAC is built lazily: proxies without TCP ports never report about it.
      if (tcp) tcpRbac ??= networkRbacFilters(view, problems);
      const decorated = tcp ? withNetworkRbac(chain, tcpRbac ?? []) : chain;
      if (!modes) return [decorated];
      const mode = modes.modeFor(port);
      if (!tls && mode === "STRICT") {
        problems.push({
          resource: proxyId,
          message: `port ${port} is STRICT but this proxy cannot terminate TLS (node metadata ${TLS_CAPABILITY_KEY} "false"); every connection to it is refused. Use a proxy with TLS, or PERMISSIVE.`,
        });
      }
      return chainsForMode(decorated, kind, mode, tls);
    },
    clusterOptions: outboundClusterOptions(view, problems),
    extraClusters: jwt.clusters,
  };
}
