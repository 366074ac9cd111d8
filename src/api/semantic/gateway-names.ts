// References to gateways from a VirtualService: `mesh` (the sidecars), `namespace/name`,
// or `name` (in the VirtualService's namespace). `name.namespace` is a legacy form.
import { Findings, at } from "./findings.ts";
import { list, str } from "./read.ts";
import { checkFqdn, isLowerDnsLabel } from "./hosts.ts";

export function checkGatewayNames(f: Findings, path: string, value: unknown): void {
  for (const [i, raw] of list(value).entries()) {
    const name = str(raw);
    if (name === undefined || name === "mesh") continue;
    const p = at(path, i);
    const parts = name.split("/");
    if (parts.length === 1) {
      if (name.includes(".")) {
        const [gw, ns] = name.split(".");
        f.warn(p, `legacy gateway reference format "${name}"`, `use the namespace/name form: "${ns}/${gw}"`);
      }
      const problem = checkFqdn(name);
      if (problem) f.error(p, `invalid gateway reference "${name}": ${problem}`, 'use "mesh", "name" or "namespace/name"');
      continue;
    }
    const [ns, gw] = [parts[0], parts.slice(1).join("/")];
    if (ns === "" || gw === "") {
      f.error(p, `gateway reference "${name}" needs both a namespace and a name around "/"`, 'use "namespace/name", e.g. "istio-system/ingressgateway"');
      continue;
    }
    if (!isLowerDnsLabel(ns)) f.error(p, `invalid namespace "${ns}" in gateway reference "${name}"`, "use a namespace name (DNS-1123 label)");
    if (!isLowerDnsLabel(gw)) f.error(p, `invalid gateway name "${gw}" in gateway reference "${name}"`, "use the Gateway's metadata.name (DNS-1123 label)");
  }
}
