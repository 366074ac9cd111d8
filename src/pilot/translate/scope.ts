// Builds the narrow RouteScope that route translation reads from the proxy view, so
// that routes.ts stays independent of how the push context is organised; and the
// proxy scope key: which proxies see the same outbound side and can share it.
import type { ProxyView, PushContext } from "./context.ts";
import { isExportedTo, selectSidecar, selectorMatches } from "./context.ts";
import type { RouteScope } from "./routes.ts";
import type { ProxyNode, TranslationProblem } from "./types.ts";
import { TLS_CAPABILITY_KEY } from "./security/index.ts";
import { hashPolicyFor } from "./policy.ts";

export function routeScope(
  view: ProxyView,
  port: number,
  gateways: readonly string[],
  problems: TranslationProblem[],
): RouteScope {
  return {
    port,
    gateways,
    proxyLabels: view.proxy.labels,
    proxyNamespace: view.proxy.namespace,
    resolveHost: (host, namespace) => view.resolveHost(host, namespace),
    findService: (hostname) => view.service(hostname),
    hashPolicy: (hostname, subset, servicePort) => hashPolicyFor(view, hostname, subset, servicePort),
    problem: (resource, message) => problems.push({ resource, message }),
    findVirtualService: (namespace, name, fromNamespace) => {
      const found = view.ctx.virtualServices.find(
        (vs) => (vs.resource.metadata.namespace ?? "default") === namespace && vs.resource.metadata.name === name,
      );
      // A delegate must be exported to the root VirtualService's namespace (Istio).
      if (!found || !isExportedTo(found.resource.spec.exportTo, namespace, fromNamespace)) return undefined;
      return found.resource;
    },
  };
}

// ---------------------------------------------------------------- proxy scopes

/**
 * Every label selector in the config that outbound translation matches against a
 * proxy's labels: DestinationRule workloadSelectors (which rule applies) and
 * VirtualService sourceLabels (which routes apply). Distinct selectors, as canonical
 * JSON, in a fixed order. Built once per push context.
 */
const selectorsIndex = new WeakMap<PushContext, Record<string, string>[]>();

function canonical(labels: Record<string, string>): string {
  return JSON.stringify(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

function outboundLabelSelectors(ctx: PushContext): Record<string, string>[] {
  let selectors = selectorsIndex.get(ctx);
  if (selectors) return selectors;
  const seen = new Map<string, Record<string, string>>();
  const add = (labels: Record<string, string> | undefined): void => {
    if (labels && Object.keys(labels).length > 0) seen.set(canonical(labels), labels);
  };
  for (const dr of ctx.destinationRules) add(dr.spec.workloadSelector?.matchLabels);
  for (const { resource } of ctx.virtualServices) {
    for (const route of [...(resource.spec.http ?? []), ...(resource.spec.tcp ?? []), ...(resource.spec.tls ?? [])]) {
      for (const match of route.match ?? []) add(match.sourceLabels);
    }
  }
  selectors = [...seen.keys()].sort().map((k) => seen.get(k) as Record<string, string>);
  selectorsIndex.set(ctx, selectors);
  return selectors;
}

/**
 * The proxy's scope in this push context: two sidecars with the same key get the same
 * outbound side (outbound listeners before telemetry, route configurations, outbound
 * clusters, their endpoints, and the problems found building them), so it is built once
 * per scope and shared — Istio's SidecarScope, made explicit. The key holds everything
 * that outbound translation reads of the proxy:
 * - its type and namespace (exportTo, sourceNamespace, DestinationRule precedence, domains);
 * - the Sidecar resource that scopes it (egress hosts, outbound traffic policy);
 * - which label selectors of the config its labels match (not the labels themselves, so
 *   workloads with different labels share as long as no selector tells them apart);
 * - the metadata the outbound side reads: INTERCEPTION_MODE (virtualOutbound),
 *   HTTP_PROXY_PORT (the http_proxy listener and routes), SKIFF_TLS (mesh mTLS on
 *   clusters; without TLS the problem names the proxy, so that proxy has its own scope).
 * Undefined for gateways and proxyless clients: they are translated whole, per proxy.
 */
export function proxyScopeKey(ctx: PushContext, proxy: ProxyNode): string | undefined {
  if (proxy.type !== "sidecar") return undefined;
  const sidecar = selectSidecar(ctx, proxy);
  const bits = outboundLabelSelectors(ctx)
    .map((sel) => (selectorMatches(sel, proxy.labels) ? "1" : "0"))
    .join("");
  const tls = proxy.metadata[TLS_CAPABILITY_KEY];
  const noTls = tls === "false" || tls === false;
  return JSON.stringify([
    proxy.type,
    proxy.namespace,
    sidecar ? `${sidecar.metadata.namespace ?? ""}/${sidecar.metadata.name}` : "",
    bits,
    proxy.metadata.INTERCEPTION_MODE === "NONE" ? "NONE" : "",
    String(proxy.metadata.HTTP_PROXY_PORT ?? ""),
    noTls ? `no-tls:${proxy.podName}` : "",
  ]);
}
