// Mesh identity as Envoy sees it: SPIFFE ids, the SDS secrets every sidecar asks for
// (`default` = its own certificate and key, `ROOTCA` = the mesh trust anchors), and the
// TLS contexts built on them. As in Istio the secrets come from the node's agent over
// SDS (the bootstrap's `sds-grpc` cluster, a Unix socket), never from the control plane:
// translation only names them; the agent (src/agent/sds-server.ts) serves their contents.
import type { EnvoyJson } from "../types.ts";
import { FilterName, typed } from "../envoy-json.ts";

/** The SDS secret holding the workload's own certificate chain and key. */
export const WORKLOAD_SECRET = "default";
/** The SDS secret holding the mesh root certificates. */
export const ROOT_SECRET = "ROOTCA";

/** What Istio's clients offer: peer metadata exchange, then plain mesh mTLS. */
export const MESH_CLIENT_ALPN: readonly string[] = ["istio-peer-exchange", "istio"];
/** Istio's ALPN for HTTP carried inside mesh mTLS (set by the client per upstream protocol). */
export const MESH_HTTP_ALPN: readonly string[] = ["istio-http/1.0", "istio-http/1.1", "istio-h2"];
/** Every ALPN value a mesh client may offer: what a PERMISSIVE port's TLS chain matches. */
export const MESH_ALPN: readonly string[] = [...MESH_CLIENT_ALPN, ...MESH_HTTP_ALPN];

export const TlsType = {
  upstream: "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
  downstream: "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
  rawBuffer: "type.googleapis.com/envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer",
} as const;

export const RAW_BUFFER_SOCKET = "envoy.transport_sockets.raw_buffer";

/** `spiffe://<trust domain>/ns/<namespace>/sa/<service account>`. */
export function spiffeId(trustDomain: string, namespace: string, serviceAccount: string): string {
  return `spiffe://${trustDomain}/ns/${namespace}/sa/${serviceAccount}`;
}

/** The bootstrap cluster that reaches the agent's SDS server (Istio's name). */
export const SDS_CLUSTER = "sds-grpc";

/** Istio's SDS config source: the agent over the `sds-grpc` cluster; wait for it indefinitely. */
function sdsSecret(name: string): EnvoyJson {
  return {
    name,
    sds_config: {
      api_config_source: { api_type: "GRPC", set_node_on_first_message_only: true, transport_api_version: "V3", grpc_services: [{ envoy_grpc: { cluster_name: SDS_CLUSTER } }] },
      initial_fetch_timeout: "0s",
      resource_api_version: "V3",
    },
  };
}

/**
 * The common part of both sides: own certificate from SDS `default`, peers validated
 * against SDS `ROOTCA`, optionally also against a list of SPIFFE ids (URI SANs).
 */
function meshCommonTlsContext(alpn: readonly string[], peerIds: readonly string[]): EnvoyJson {
  const defaults: EnvoyJson = {};
  if (peerIds.length > 0) {
    defaults.match_typed_subject_alt_names = peerIds.map((id) => ({ san_type: "URI", matcher: { exact: id } }));
  }
  const context: EnvoyJson = {
    tls_certificate_sds_secret_configs: [sdsSecret(WORKLOAD_SECRET)],
    combined_validation_context: {
      default_validation_context: defaults,
      validation_context_sds_secret_config: sdsSecret(ROOT_SECRET),
    },
  };
  if (alpn.length > 0) context.alpn_protocols = [...alpn];
  return context;
}

/**
 * Istio's SNI for mesh mTLS: `outbound_.<port>_.<subset>_.<host>` (subset empty for the
 * service's default cluster), so a server could route by it without decrypting.
 */
export function meshSni(port: number, subset: string, host: string): string {
  return `outbound_.${port}_.${subset}_.${host}`;
}

/** Client side of mesh mTLS: the transport socket an outbound cluster uses to a sidecar. */
export function meshUpstreamSocket(options: { sni: string; peerIds: readonly string[]; http2: boolean }): EnvoyJson {
  const alpn = options.http2 ? [...MESH_CLIENT_ALPN, "h2"] : MESH_CLIENT_ALPN;
  return {
    name: FilterName.tlsTransport,
    typed_config: typed(TlsType.upstream, {
      common_tls_context: meshCommonTlsContext(alpn, options.peerIds),
      sni: options.sni,
    }),
  };
}

/**
 * Server side of mesh mTLS on an inbound port: a client certificate signed by the mesh
 * root is required (any mesh identity; which identities may do what is RBAC's job).
 */
export function meshDownstreamSocket(http: boolean): EnvoyJson {
  const alpn = http ? ["istio-peer-exchange", "h2", "http/1.1"] : ["istio-peer-exchange", "istio"];
  return {
    name: FilterName.tlsTransport,
    typed_config: typed(TlsType.downstream, {
      common_tls_context: meshCommonTlsContext(alpn, []),
      require_client_certificate: true,
    }),
  };
}

export function rawBufferSocket(): EnvoyJson {
  return { name: RAW_BUFFER_SOCKET, typed_config: typed(TlsType.rawBuffer) };
}
