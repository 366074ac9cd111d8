// AuthorizationPolicy → Envoy RBAC filters for one proxy. Evaluation order as Istio:
// AUDIT (action LOG: records, decides nothing), then DENY, then ALLOW. The DENY filter
// holds every DENY policy's rules; the ALLOW filter exists only when some ALLOW policy
// selects the workload (no ALLOW policy = allow all; any = deny what none allows).
// CUSTOM (external authorization) is reported as not supported.
import type { Resource } from "../../../api/types.ts";
import type { ProxyView } from "../context.ts";
import type { EnvoyJson, TranslationProblem } from "../types.ts";
import { typed } from "../envoy-json.ts";
import type { RbacAction } from "./rbac-rules.ts";
import { rulePolicy } from "./rbac-rules.ts";
import { resourceId, selectPolicies } from "./selection.ts";

export const RbacType = {
  http: "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC",
  network: "type.googleapis.com/envoy.extensions.filters.network.rbac.v3.RBAC",
} as const;
export const RbacFilterName = { http: "envoy.filters.http.rbac", network: "envoy.filters.network.rbac" } as const;

const ORDER: RbacAction[] = ["AUDIT", "DENY", "ALLOW"];
const ENVOY_ACTION: Record<RbacAction, string> = { AUDIT: "LOG", DENY: "DENY", ALLOW: "ALLOW" };

/** Istio's policy name in the RBAC config: `ns[<ns>]-policy[<name>]-rule[<index>]`. */
export function rbacPolicyName(namespace: string, name: string, index: number): string {
  return `ns[${namespace}]-policy[${name}]-rule[${index}]`;
}

/** The AuthorizationPolicies that apply to the proxy, by action (CUSTOM reported). */
export function authorizationPolicies(view: ProxyView, problems: TranslationProblem[]): Map<RbacAction, Resource<"AuthorizationPolicy">[]> {
  const byAction = new Map<RbacAction, Resource<"AuthorizationPolicy">[]>();
  for (const { resource } of selectPolicies(view, "AuthorizationPolicy")) {
    const action = resource.spec.action ?? "ALLOW";
    if (action === "CUSTOM") {
      problems.push({
        resource: resourceId(resource),
        message: "spec.action CUSTOM (external authorization) is not supported yet; the policy is ignored. Use ALLOW/DENY policies.",
      });
      continue;
    }
    const list = byAction.get(action) ?? [];
    list.push(resource);
    byAction.set(action, list);
  }
  return byAction;
}

/** The `policies` map of one action's filter. */
function policiesFor(
  view: ProxyView,
  resources: Resource<"AuthorizationPolicy">[],
  action: RbacAction,
  forTcp: boolean,
  problems: TranslationProblem[],
): EnvoyJson {
  const policies: EnvoyJson = {};
  for (const resource of resources) {
    const ns = resource.metadata.namespace ?? "default";
    (resource.spec.rules ?? []).forEach((rule, index) => {
      const outcome = rulePolicy(rule, {
        namespace: ns,
        trustDomain: view.ctx.mesh.trustDomain,
        forTcp,
        action,
        report: (path, message) =>
          problems.push({ resource: resourceId(resource), message: `spec.rules[${index}].${path}: ${message}` }),
      });
      // A dropped ALLOW rule allows nothing on this chain; Istio logs it, so do we.
      if ("dropped" in outcome) {
        problems.push({
          resource: resourceId(resource),
          message: `spec.rules[${index}]: ignored on TCP ports of ${view.proxy.podName} because ${outcome.dropped} (methods, paths, hosts, requestPrincipals, request.* conditions). Move HTTP-only fields to a policy for HTTP ports, or select the ports with \`to.operation.ports\`.`,
        });
        return;
      }
      policies[rbacPolicyName(ns, resource.metadata.name, index)] = outcome.policy;
    });
  }
  return policies;
}

function rbacFilters(view: ProxyView, problems: TranslationProblem[], forTcp: boolean): EnvoyJson[] {
  // Problems are de-duplicated by translate(), so both passes may report.
  const byAction = authorizationPolicies(view, problems);
  const filters: EnvoyJson[] = [];
  for (const action of ORDER) {
    const resources = byAction.get(action);
    if (!resources || resources.length === 0) continue;
    const rules = { action: ENVOY_ACTION[action], policies: policiesFor(view, resources, action, forTcp, problems) };
    filters.push(
      forTcp
        ? { name: RbacFilterName.network, typed_config: typed(RbacType.network, { stat_prefix: "tcp.", rules }) }
        : { name: RbacFilterName.http, typed_config: typed(RbacType.http, { rules }) },
    );
  }
  return filters;
}

/** HTTP RBAC filters for the proxy's HTTP connection managers, in evaluation order. */
export function httpRbacFilters(view: ProxyView, problems: TranslationProblem[]): EnvoyJson[] {
  return rbacFilters(view, problems, false);
}

/** Network RBAC filters for the proxy's TCP chains (before tcp_proxy), in evaluation order. */
export function networkRbacFilters(view: ProxyView, problems: TranslationProblem[]): EnvoyJson[] {
  return rbacFilters(view, problems, true);
}
