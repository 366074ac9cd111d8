// Warnings for references a VirtualService makes to other resources that were not loaded
// with it: gateways it binds to and subsets its destinations name. As with unknown hosts,
// each is only said when the run loaded at least one resource of the referenced kind;
// otherwise the referenced resources simply live somewhere Skiff was not shown.
import type { AnyResource } from "../types.ts";
import { Findings, at } from "./findings.ts";
import { list, obj, str, type Obj } from "./read.ts";
import { qualify } from "./known-hosts.ts";

export interface References {
  /** `namespace/name` of every Gateway, or undefined when none was loaded. */
  gateways?: Set<string>;
  /** Subset names by the fully qualified host of each DestinationRule, or undefined when none was loaded. */
  subsets?: Map<string, Set<string>>;
}

export function collectReferences(all: readonly AnyResource[], domain: string): References {
  const refs: References = {};
  for (const r of all) {
    const ns = r.metadata.namespace ?? "default";
    if (r.kind === "Gateway") {
      refs.gateways ??= new Set();
      refs.gateways.add(`${ns}/${r.metadata.name}`);
    } else if (r.kind === "DestinationRule") {
      refs.subsets ??= new Map();
      const spec = obj(r.spec);
      const host = str(spec?.host);
      if (!host) continue;
      const fqdn = qualify(host, ns, domain);
      const names = refs.subsets.get(fqdn) ?? new Set<string>();
      for (const s of list(spec?.subsets)) {
        const name = str(obj(s)?.name);
        if (name) names.add(name);
      }
      refs.subsets.set(fqdn, names);
    }
  }
  return refs;
}

/** `name` is in the VirtualService's namespace; `ns/name` names both; the legacy `name.ns` too. */
function gatewayKey(ref: string, namespace: string): string {
  if (ref.includes("/")) return ref;
  const dot = ref.indexOf(".");
  if (dot > 0) return `${ref.slice(dot + 1).split(".")[0]}/${ref.slice(0, dot)}`;
  return `${namespace}/${ref}`;
}

export function warnMissingReferences(f: Findings, spec: Obj, namespace: string, domain: string, refs: References): void {
  if (refs.gateways) {
    const gatewayLists: [string, unknown][] = [["spec.gateways", spec.gateways]];
    for (const [i, route] of list(spec.http).entries()) {
      for (const [j, m] of list(obj(route)?.match).entries()) gatewayLists.push([at("spec.http", i, "match", j, "gateways"), obj(m)?.gateways]);
    }
    for (const [path, value] of gatewayLists) {
      for (const [i, raw] of list(value).entries()) {
        const ref = str(raw);
        if (!ref || ref === "mesh") continue;
        const key = gatewayKey(ref, namespace);
        if (!refs.gateways.has(key)) f.warn(at(path, i), `gateway "${ref}" (${key}) matches no Gateway loaded with this VirtualService`, "check the gateway's name and namespace, or use namespace/name");
      }
    }
  }
  if (refs.subsets) {
    for (const section of ["http", "tls", "tcp"]) {
      for (const [i, route] of list(spec[section]).entries()) {
        for (const [j, rawDest] of list(obj(route)?.route).entries()) {
          const dest = obj(obj(rawDest)?.destination);
          const host = str(dest?.host);
          const subset = str(dest?.subset);
          if (!host || !subset) continue;
          const fqdn = qualify(host, namespace, domain);
          const defined = refs.subsets.get(fqdn);
          if (defined?.has(subset)) continue;
          f.warn(at("spec", section, i, "route", j, "destination", "subset"),
            defined ? `subset "${subset}" is not defined by the DestinationRule for ${fqdn} (it defines ${[...defined].join(", ") || "no subsets"})` : `subset "${subset}" is used but no DestinationRule for ${fqdn} was loaded`,
            `define subset "${subset}" in a DestinationRule for ${host}; requests to an undefined subset fail with 503`);
        }
      }
    }
  }
}
