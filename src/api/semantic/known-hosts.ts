// Warnings for a VirtualService whose hosts or destinations name no Service or
// ServiceEntry loaded alongside it. Only a warning: the service may live in a cluster
// or file Skiff was not shown, so it is only said when the run included at least one
// Service or ServiceEntry (otherwise every host would be "unknown").
import type { AnyResource } from "../types.ts";
import { Findings, at } from "./findings.ts";
import { list, obj, str, type Obj } from "./read.ts";
import { hostMatches, isIpAddress } from "./hosts.ts";

export interface KnownHosts {
  /** Fully qualified names of every Service, and every ServiceEntry host. */
  hosts: string[];
}

export function collectKnownHosts(all: readonly AnyResource[], domain: string): KnownHosts | undefined {
  const hosts: string[] = [];
  let any = false;
  for (const r of all) {
    if (r.kind === "Service") {
      any = true;
      hosts.push(`${r.metadata.name}.${r.metadata.namespace ?? "default"}.svc.${domain}`);
    } else if (r.kind === "ServiceEntry") {
      any = true;
      for (const h of list(obj(r.spec)?.hosts)) if (typeof h === "string") hosts.push(h);
    }
  }
  return any ? { hosts } : undefined;
}

/** Istio's short-name rule: a name without dots lives in the referring resource's namespace. */
export function qualify(host: string, namespace: string, domain: string): string {
  return host.includes(".") ? host : `${host}.${namespace}.svc.${domain}`;
}

function isKnown(host: string, known: KnownHosts, namespace: string, domain: string): boolean {
  if (host === "*" || isIpAddress(host)) return true;
  const candidates = [qualify(host, namespace, domain), host, `${host}.svc.${domain}`];
  return known.hosts.some((k) => candidates.some((c) => hostMatches(c, k) || hostMatches(k, c)));
}

export function warnUnknownHosts(f: Findings, spec: Obj, namespace: string, domain: string, known: KnownHosts): void {
  const gateways = list(spec.gateways).map(str);
  const appliesToMesh = gateways.length === 0 || gateways.includes("mesh");
  // Hosts of a gateway-only VirtualService are public names, not services: not checked.
  if (appliesToMesh) {
    for (const [i, raw] of list(spec.hosts).entries()) {
      const host = str(raw);
      if (host !== undefined && !isKnown(host, known, namespace, domain)) {
        f.warn(at("spec.hosts", i), `host "${host}" matches no known Service or ServiceEntry (resolved as ${qualify(host, namespace, domain)})`,
          "check the name and namespace, or add the Service or a ServiceEntry");
      }
    }
  }
  for (const section of ["http", "tls", "tcp"]) {
    for (const [i, rawRoute] of list(spec[section]).entries()) {
      for (const [j, rawDest] of list(obj(rawRoute)?.route).entries()) {
        const host = str(obj(obj(rawDest)?.destination)?.host);
        if (host !== undefined && host !== "" && !isKnown(host, known, namespace, domain)) {
          f.warn(at("spec", section, i, "route", j, "destination", "host"), `destination host "${host}" matches no known Service or ServiceEntry (resolved as ${qualify(host, namespace, domain)})`,
            "check the name and namespace, or add the Service or a ServiceEntry");
        }
      }
    }
  }
}
