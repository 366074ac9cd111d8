// Client side of mesh mTLS on outbound clusters (the `decorateOutbound` hook).
// - DestinationRule tls ISTIO_MUTUAL: always mesh mTLS (transport_socket).
// - DestinationRule tls DISABLE: plaintext, nothing to add.
// - SIMPLE / MUTUAL: already done by policy.ts from the rule's files.
// - No TLS setting and meshConfig.enableAutoMtls: EDS clusters get
//   transport_socket_matches — endpoints whose metadata says `tlsMode: istio` (they have a
//   sidecar) get mesh mTLS, the rest plaintext — unless the destination namespace's (or
//   the mesh's) PeerAuthentication says DISABLE, as Istio's best-effort inference does.
import type { ProxyView } from "../context.ts";
import type { OutboundClusterInfo } from "../clusters.ts";
import type { EnvoyJson } from "../types.ts";
import { meshSni, meshUpstreamSocket, rawBufferSocket, spiffeId } from "./identity.ts";
import { namespaceMtlsMode } from "./peer-authentication.ts";

/** The SPIFFE ids a client accepts from a service's servers: its workloads' service accounts. */
export function serviceIdentities(view: ProxyView, info: OutboundClusterInfo): string[] {
  const td = view.ctx.mesh.trustDomain;
  return info.service.serviceAccounts.map((sa) => spiffeId(td, info.service.namespace, sa)).sort();
}

function isHttp2(info: OutboundClusterInfo): boolean {
  const p = info.port.protocol;
  return p === "HTTP2" || p === "GRPC" || p === "GRPC-Web" || info.policy?.connectionPool?.http?.h2UpgradePolicy === "UPGRADE";
}

function meshSocket(view: ProxyView, info: OutboundClusterInfo): EnvoyJson {
  const sni = info.policy?.tls?.sni ?? meshSni(info.port.port, info.subset, info.service.hostname);
  const subjectAltNames = info.policy?.tls?.subjectAltNames ?? [];
  // A rule's own subjectAltNames replace the registry's identities (Istio).
  const peerIds = subjectAltNames.length > 0 ? [...subjectAltNames] : serviceIdentities(view, info);
  return meshUpstreamSocket({ sni, peerIds, http2: isHttp2(info) });
}

/** Edits an outbound cluster in place (ClusterOptions.decorateOutbound). */
export function decorateOutboundMtls(cluster: EnvoyJson, info: OutboundClusterInfo, view: ProxyView): void {
  if (view.proxy.type === "proxyless") return;
  if (info.tlsMode === "ISTIO_MUTUAL") {
    cluster.transport_socket = meshSocket(view, info);
    return;
  }
  if (info.tlsMode !== undefined) return; // DISABLE, SIMPLE, MUTUAL: policy.ts decided
  if (!view.ctx.mesh.enableAutoMtls) return;
  // Only EDS endpoints carry the tlsMode metadata; DNS and passthrough clusters reach
  // things outside the mesh.
  if (cluster.type !== "EDS" || info.service.meshExternal) return;
  if (namespaceMtlsMode(view, info.service.namespace) === "DISABLE") return;
  cluster.transport_socket_matches = [
    { name: "tlsMode-istio", match: { tlsMode: "istio" }, transport_socket: meshSocket(view, info) },
    { name: "tlsMode-disabled", match: {}, transport_socket: rawBufferSocket() },
  ];
}
