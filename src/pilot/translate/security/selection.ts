// Which security policies apply to one proxy, with Istio's scoping: a policy in the
// root namespace without selector covers the mesh; one in the proxy's namespace without
// selector covers that namespace; a `selector` (in either of those namespaces) covers
// the workloads whose labels it matches; `targetRef(s)` name a Service the workload
// serves or a Gateway the router implements. Policies elsewhere never apply.
import type { PolicyTargetReference, WorkloadSelector } from "../../../api/kinds.ts";
import type { Resource } from "../../../api/types.ts";
import type { ProxyView } from "../context.ts";
import { configOfKind } from "../context.ts";

export type SecurityKind = "PeerAuthentication" | "RequestAuthentication" | "AuthorizationPolicy";
export type SecurityResource<K extends SecurityKind = SecurityKind> = Resource<K>;

export type Scope = "workload" | "namespace" | "mesh";

export interface SelectedPolicy<K extends SecurityKind> {
  resource: Resource<K>;
  scope: Scope;
}

/** `Kind/namespace/name`, as problems name resources. */
export function resourceId(r: Resource): string {
  return `${r.kind}/${r.metadata.namespace ?? ""}/${r.metadata.name}`;
}

export function policiesOfKind<K extends SecurityKind>(view: ProxyView, kind: K): readonly Resource<K>[] {
  // Indexed once per push context (asked per proxy, and per outbound cluster by auto mTLS).
  return configOfKind(view.ctx, kind);
}

function selectorMatches(selector: WorkloadSelector, labels: Record<string, string>): boolean {
  const wanted = selector.matchLabels ?? selector.labels ?? {};
  return Object.entries(wanted).every(([k, v]) => labels[k] === v);
}

/** Whether a targetRef names something this proxy is: a Service it serves, or its Gateway. */
function targetMatches(view: ProxyView, ref: PolicyTargetReference, policyNamespace: string): boolean {
  const namespace = ref.namespace ?? policyNamespace;
  if (ref.kind === "Service") {
    const host = `${ref.name}.${namespace}.svc.${view.ctx.mesh.domain}`;
    return view.ownEndpoints.some((ep) => ep.hostname === host);
  }
  if (ref.kind === "Gateway") {
    if (view.proxy.labels["gateway.networking.k8s.io/gateway-name"] === ref.name && view.proxy.namespace === namespace) return true;
    return view.gateways.some((g) => g.metadata.name === ref.name && (g.metadata.namespace ?? "default") === namespace);
  }
  return false;
}

interface Selectable {
  selector?: WorkloadSelector;
  targetRef?: PolicyTargetReference;
  targetRefs?: PolicyTargetReference[];
}

/**
 * The policies of `kind` that apply to the proxy, oldest first, each with the scope it
 * applies at (selector/targetRef → workload; otherwise namespace or mesh).
 */
export function selectPolicies<K extends SecurityKind>(view: ProxyView, kind: K): SelectedPolicy<K>[] {
  const root = view.ctx.mesh.rootNamespace;
  const own = view.proxy.namespace;
  const out: SelectedPolicy<K>[] = [];
  for (const resource of policiesOfKind(view, kind)) {
    const ns = resource.metadata.namespace ?? "default";
    const spec = resource.spec as Selectable;
    const refs = [...(spec.targetRef ? [spec.targetRef] : []), ...(spec.targetRefs ?? [])];
    if (refs.length > 0) {
      // A targetRef may name another namespace's object only when written in the root namespace.
      if (refs.some((ref) => targetMatches(view, ref, ns) && (ns === root || (ref.namespace ?? ns) === ns))) {
        out.push({ resource, scope: "workload" });
      }
      continue;
    }
    if (ns !== own && ns !== root) continue;
    if (spec.selector) {
      if (selectorMatches(spec.selector, view.proxy.labels)) out.push({ resource, scope: "workload" });
      continue;
    }
    out.push({ resource, scope: ns === own ? "namespace" : "mesh" });
  }
  return out;
}
