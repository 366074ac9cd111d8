// The kinds Skiff reads and the API versions each is accepted in. Every kind has one
// internal version, its newest: the Istio API versions of one kind share the very same
// spec (v1alpha3, v1beta1 and v1 of networking.istio.io are served from one proto), so
// converting between them is only a matter of rewriting apiVersion — lossless both ways.
// test/api/kinds-table.test.ts checks that claim against Istio's CRD file.
import type { KindName } from "./types.ts";

export interface KindInfo {
  kind: KindName;
  group: string;
  /** Accepted versions, oldest first; the last one is the internal version. */
  versions: readonly string[];
  /** Whether objects of this kind live in a namespace (Namespace itself does not). */
  namespaced: boolean;
}

const NETWORKING = ["v1alpha3", "v1beta1", "v1"] as const;
const SECURITY = ["v1beta1", "v1"] as const;
const TELEMETRY = ["v1alpha1", "v1"] as const;

export const KINDS: readonly KindInfo[] = [
  { kind: "Gateway", group: "networking.istio.io", versions: NETWORKING, namespaced: true },
  { kind: "VirtualService", group: "networking.istio.io", versions: NETWORKING, namespaced: true },
  { kind: "DestinationRule", group: "networking.istio.io", versions: NETWORKING, namespaced: true },
  { kind: "ServiceEntry", group: "networking.istio.io", versions: NETWORKING, namespaced: true },
  { kind: "Sidecar", group: "networking.istio.io", versions: NETWORKING, namespaced: true },
  { kind: "WorkloadEntry", group: "networking.istio.io", versions: NETWORKING, namespaced: true },
  { kind: "WorkloadGroup", group: "networking.istio.io", versions: NETWORKING, namespaced: true },
  { kind: "PeerAuthentication", group: "security.istio.io", versions: SECURITY, namespaced: true },
  { kind: "RequestAuthentication", group: "security.istio.io", versions: SECURITY, namespaced: true },
  { kind: "AuthorizationPolicy", group: "security.istio.io", versions: SECURITY, namespaced: true },
  { kind: "Telemetry", group: "telemetry.istio.io", versions: TELEMETRY, namespaced: true },
  // The Kubernetes core group has no name: its apiVersion is just "v1".
  { kind: "Namespace", group: "", versions: ["v1"], namespaced: false },
  { kind: "Service", group: "", versions: ["v1"], namespaced: true },
  { kind: "Workload", group: "skiff.dev", versions: ["v1alpha1"], namespaced: true },
];

const BY_KIND = new Map(KINDS.map((info) => [info.kind as string, info]));

export function apiVersionOf(group: string, version: string): string {
  return group === "" ? version : `${group}/${version}`;
}

/** Every apiVersion a kind is accepted in, oldest first. */
export function acceptedApiVersions(info: KindInfo): string[] {
  return info.versions.map((v) => apiVersionOf(info.group, v));
}

/** The version resources of this kind are normalized to. */
export function internalApiVersion(info: KindInfo): string {
  return apiVersionOf(info.group, info.versions[info.versions.length - 1]);
}

export function kindInfo(kind: string): KindInfo | undefined {
  return BY_KIND.get(kind);
}

export function supportedKindNames(): string[] {
  return KINDS.map((info) => info.kind);
}

export type KindLookup =
  | { ok: true; info: KindInfo; internalApiVersion: string }
  | { ok: false; field: "kind" | "apiVersion"; message: string; fix: string };

/** Resolves a document's apiVersion and kind to a known kind, or says what is wrong and how to fix it. */
export function lookupKind(apiVersion: string, kind: string): KindLookup {
  const info = BY_KIND.get(kind);
  if (!info) {
    const hint = `supported kinds: ${supportedKindNames().join(", ")}`;
    const close = closestName(kind, supportedKindNames());
    return {
      ok: false,
      field: "kind",
      message: `unknown kind "${kind}"`,
      fix: close ? `did you mean "${close}"? ${hint}` : hint,
    };
  }
  const accepted = acceptedApiVersions(info);
  if (!accepted.includes(apiVersion)) {
    return {
      ok: false,
      field: "apiVersion",
      message: `apiVersion "${apiVersion}" is not valid for kind ${kind}`,
      fix: `use one of: ${accepted.join(", ")}`,
    };
  }
  return { ok: true, info, internalApiVersion: internalApiVersion(info) };
}

/** The candidate closest to `name` by edit distance (case-insensitive), if it is close enough to be a likely typo. */
export function closestName(name: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const d = editDistance(name.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  // A third of the name's length tolerates one typo in a short name and a few in a long one.
  return best !== undefined && bestDistance <= Math.max(1, Math.floor(name.length / 3)) ? best : undefined;
}

/** Edit distance counting a swap of two neighbouring letters as one edit, the commonest typo. */
function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}
