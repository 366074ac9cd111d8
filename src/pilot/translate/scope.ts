// Builds the narrow RouteScope that route translation reads from the proxy view, so
// that routes.ts stays independent of how the push context is organised.
import type { ProxyView } from "./context.ts";
import { isExportedTo } from "./context.ts";
import type { RouteScope } from "./routes.ts";
import type { TranslationProblem } from "./types.ts";
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
