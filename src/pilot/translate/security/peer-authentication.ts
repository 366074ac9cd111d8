// PeerAuthentication: which mTLS mode a workload port runs, and the inbound filter
// chains that enforce it. Precedence as Istio: the oldest workload-scoped policy
// (selector / targetRef), else the oldest namespace policy, else the oldest mesh-wide one
// (root namespace, no selector); a level whose mode is UNSET (or absent) inherits from the
// next; nothing at all is PERMISSIVE. `portLevelMtls` of the workload policy overrides
// one port (UNSET there inherits the workload's mode).
import type { MtlsMode } from "../../../api/kinds.ts";
import type { Endpoint } from "../../../registry/types.ts";
import type { ProxyView } from "../context.ts";
import { proxyView } from "../context.ts";
import type { EnvoyJson, TranslationProblem } from "../types.ts";
import { MESH_ALPN, MESH_CLIENT_ALPN, MESH_HTTP_ALPN, meshDownstreamSocket } from "./identity.ts";
import type { SelectedPolicy } from "./selection.ts";
import { policiesOfKind, resourceId, selectPolicies } from "./selection.ts";

export type EffectiveMtls = "STRICT" | "PERMISSIVE" | "DISABLE";

export interface PeerAuthnModes {
  /** The mode of one workload port. */
  modeFor(port: number): EffectiveMtls;
  /** The workload-wide mode (no port-level override). */
  workloadMode: EffectiveMtls;
}

function declared(mode: MtlsMode | undefined): EffectiveMtls | undefined {
  return mode === undefined || mode === "UNSET" ? undefined : mode;
}

/** Workload > namespace > mesh; the first level that sets a mode decides. */
function resolve(levels: (EffectiveMtls | undefined)[]): EffectiveMtls {
  for (const mode of levels) if (mode) return mode;
  return "PERMISSIVE";
}

export function peerAuthnModes(view: ProxyView, problems: TranslationProblem[]): PeerAuthnModes {
  const selected = selectPolicies(view, "PeerAuthentication");
  const first = (scope: SelectedPolicy<"PeerAuthentication">["scope"]): SelectedPolicy<"PeerAuthentication"> | undefined =>
    selected.find((p) => p.scope === scope);
  const workload = first("workload");
  const namespace = first("namespace");
  const mesh = first("mesh");
  for (const ignored of selected.filter((p) => p !== workload && p !== namespace && p !== mesh)) {
    problems.push({
      resource: resourceId(ignored.resource),
      message: `an older PeerAuthentication of the same scope applies to ${view.proxy.podName}; this one is ignored for it. Keep one policy per workload (or per namespace).`,
    });
  }
  const workloadMode = resolve([
    declared(workload?.resource.spec.mtls?.mode),
    declared(namespace?.resource.spec.mtls?.mode),
    declared(mesh?.resource.spec.mtls?.mode),
  ]);
  const portLevel = new Map<number, EffectiveMtls>();
  for (const [key, value] of Object.entries(workload?.resource.spec.portLevelMtls ?? {})) {
    const port = Number(key);
    const mode = declared(value.mode);
    if (Number.isInteger(port) && mode) portLevel.set(port, mode);
  }
  // Istio honours portLevelMtls only on policies with a selector.
  for (const p of [namespace, mesh]) {
    if (p && p.resource.spec.portLevelMtls && Object.keys(p.resource.spec.portLevelMtls).length > 0) {
      problems.push({
        resource: resourceId(p.resource),
        message: "spec.portLevelMtls: ignored on a policy without selector (Istio honours it only for selected workloads). Add spec.selector.",
      });
    }
  }
  return { workloadMode, modeFor: (port) => portLevel.get(port) ?? workloadMode };
}

/**
 * The mode a service's namespace (then the mesh) declares, ignoring workload policies:
 * Istio's best-effort guess on the client side, which cannot see per-workload policy
 * from a per-service cluster.
 */
export function namespaceMtlsMode(view: ProxyView, namespace: string): EffectiveMtls {
  const root = view.ctx.mesh.rootNamespace;
  const plain = policiesOfKind(view, "PeerAuthentication").filter((p) => !p.spec.selector && !p.spec.targetRef);
  const ns = plain.find((p) => (p.metadata.namespace ?? "default") === namespace);
  const mesh = plain.find((p) => (p.metadata.namespace ?? "default") === root);
  return resolve([declared(ns?.spec.mtls?.mode), declared(mesh?.spec.mtls?.mode)]);
}

/** Whether any PeerAuthentication turns mTLS off, at any level or port. */
function anyDisable(view: ProxyView): boolean {
  return policiesOfKind(view, "PeerAuthentication").some(
    (p) => p.spec.mtls?.mode === "DISABLE" || Object.values(p.spec.portLevelMtls ?? {}).some((m) => m.mode === "DISABLE"),
  );
}

/**
 * The endpoint's metadata as auto-mTLS clients should see it: an endpoint with a sidecar
 * whose own PeerAuthentication (workload policy, or its port's portLevelMtls) is DISABLE
 * accepts only plaintext, so it is marked `tlsMode: disabled` and clients send plaintext
 * to it (Istio's endpoint mtlsChecker). The namespace/mesh levels are also decided here
 * per endpoint; `namespaceMtlsMode` already keeps such whole clusters plaintext.
 */
export function endpointTlsModes(view: ProxyView): (ep: Endpoint) => Endpoint {
  if (!anyDisable(view)) return (ep) => ep;
  const modes = new Map<string, PeerAuthnModes>();
  return (ep) => {
    if (ep.tlsMode !== "istio") return ep;
    // The endpoint's workload as a proxy of its own, so its policies are selected the way
    // its own sidecar's are (selector, targetRef, namespace, mesh; Istio's precedence).
    const key = `${ep.namespace}\u0000${ep.address}\u0000${JSON.stringify(ep.labels)}`;
    let workload = modes.get(key);
    if (!workload) {
      const node = {
        id: `sidecar~${ep.address}~${ep.workloadName}.${ep.namespace}~${ep.namespace}.svc.${view.ctx.mesh.domain}`,
        type: "sidecar" as const,
        ipAddresses: [ep.address],
        podName: `${ep.workloadName}.${ep.namespace}`,
        namespace: ep.namespace,
        labels: ep.labels,
        serviceAccount: ep.serviceAccount,
        workloadName: ep.workloadName,
        metadata: {},
      };
      // Problems of the endpoint's policies are its own sidecar's to report.
      workload = peerAuthnModes(proxyView(view.ctx, node), []);
      modes.set(key, workload);
    }
    return workload.modeFor(ep.port) === "DISABLE" ? { ...ep, tlsMode: "disabled" } : ep;
  };
}

/** What a chain serves, so the TLS twin can match the ALPN a mesh client sends for it. */
export type ChainKind = "http" | "tcp" | "sniffed-http" | "sniffed-tcp";

function tlsAlpnMatch(kind: ChainKind, mode: EffectiveMtls): string[] | undefined {
  // A sniffed port cannot sniff inside TLS: the client's ALPN says which it is.
  if (kind === "sniffed-http") return [...MESH_HTTP_ALPN];
  // STRICT: any other TLS on a sniffed port is mesh TCP too (the handshake fails without
  // a mesh certificate); PERMISSIVE leaves non-mesh TLS to the plaintext side.
  if (kind === "sniffed-tcp") return mode === "STRICT" ? undefined : [...MESH_CLIENT_ALPN];
  // PERMISSIVE: only mesh clients' TLS is terminated here (an app's own TLS is not ours).
  return mode === "PERMISSIVE" ? [...MESH_ALPN] : undefined;
}

function withMatch(chain: EnvoyJson, extra: EnvoyJson, dropAppProtocols: boolean): EnvoyJson {
  const match: EnvoyJson = { ...((chain.filter_chain_match as EnvoyJson | undefined) ?? {}) };
  if (dropAppProtocols) delete match.application_protocols;
  return { ...chain, filter_chain_match: { ...match, ...extra } };
}

/** The mTLS twin of a plaintext chain: same filters, TLS terminated with the mesh identity. */
function tlsChain(chain: EnvoyJson, kind: ChainKind, mode: EffectiveMtls): EnvoyJson {
  const alpn = tlsAlpnMatch(kind, mode);
  const tls = withMatch(chain, { transport_protocol: "tls", ...(alpn ? { application_protocols: alpn } : {}) }, true);
  return { ...tls, name: `${String(chain.name)}-mtls`, transport_socket: meshDownstreamSocket(kind === "http" || kind === "sniffed-http") };
}

/**
 * The chains for one port's plaintext chain under a mode: STRICT → the TLS chain, and
 * for plaintext a chain that closes the connection (without it a captured connection
 * would fall to virtualInbound's passthrough chain and reach the app in the clear);
 * PERMISSIVE → the TLS chain
 * and the plaintext chain (matched on raw_buffer so TLS never falls into it); DISABLE →
 * the plaintext chain as it was.
 */
export function chainsForMode(chain: EnvoyJson, kind: ChainKind, mode: EffectiveMtls, tls = true): EnvoyJson[] {
  if (mode === "DISABLE") return [chain];
  if (!tls) return mode === "STRICT" ? [refuseAll(chain)] : [chain];
  if (mode === "STRICT") return [tlsChain(chain, kind, mode), refuseAll(withMatch(chain, { transport_protocol: "raw_buffer" }, false))];
  return [tlsChain(chain, kind, mode), withMatch(chain, { transport_protocol: "raw_buffer" }, false)];
}

/**
 * The chain, closing every connection it matches (network RBAC deny-all): plaintext
 * under STRICT, and everything under STRICT on a proxy that cannot terminate TLS (node
 * metadata SKIFF_TLS "false").
 */
function refuseAll(chain: EnvoyJson): EnvoyJson {
  const deny: EnvoyJson = {
    name: "envoy.filters.network.rbac",
    typed_config: {
      "@type": "type.googleapis.com/envoy.extensions.filters.network.rbac.v3.RBAC",
      stat_prefix: "tcp.",
      rules: { action: "DENY", policies: { "peer-authentication-strict-refuses-plaintext": { permissions: [{ any: true }], principals: [{ any: true }] } } },
    },
  };
  return { ...chain, filters: [deny, ...((chain.filters as EnvoyJson[] | undefined) ?? [])] };
}
