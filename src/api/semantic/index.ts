// Semantic validation: the checks Istio's own validation makes beyond the schema
// (hosts, weights, regexes with RE2 semantics, durations, ...). Pure: it reads the
// resources it is given and nothing else. One module per concern; this file only
// dispatches by kind.
import type { AnyResource, Diagnostic } from "../types.ts";
import { Findings } from "./findings.ts";
import { obj, type Obj } from "./read.ts";
import { checkMetadata } from "./common.ts";
import { checkGateway } from "./gateway.ts";
import { checkVirtualService } from "./virtual-service.ts";
import { checkDestinationRule } from "./destination-rule.ts";
import { checkServiceEntry } from "./service-entry.ts";
import { checkSidecar } from "./sidecar.ts";
import { checkWorkloadEntry, checkWorkloadGroup } from "./workload-entry.ts";
import { checkPeerAuthentication } from "./peer-authentication.ts";
import { checkRequestAuthentication } from "./jwt.ts";
import { checkAuthorizationPolicy } from "./authorization-policy.ts";
import { checkTelemetry } from "./telemetry.ts";
import { checkNamespace, checkService } from "./kubernetes.ts";
import { checkWorkload } from "./workload.ts";
import { collectKnownHosts, warnUnknownHosts } from "./known-hosts.ts";
import { collectReferences, warnMissingReferences } from "./references.ts";

/** What a check may know beyond the resource itself, e.g. to warn about unknown hosts. */
export interface ValidationContext {
  /** Every resource loaded together with this one (all files of one `validate` run). */
  all: readonly AnyResource[];
  /** DNS domain of services; `cluster.local` by default. */
  domain: string;
}

const CHECKS: Record<AnyResource["kind"], (f: Findings, spec: Obj) => void> = {
  Gateway: checkGateway,
  VirtualService: checkVirtualService,
  DestinationRule: checkDestinationRule,
  ServiceEntry: checkServiceEntry,
  Sidecar: checkSidecar,
  WorkloadEntry: checkWorkloadEntry,
  WorkloadGroup: checkWorkloadGroup,
  PeerAuthentication: checkPeerAuthentication,
  RequestAuthentication: checkRequestAuthentication,
  AuthorizationPolicy: checkAuthorizationPolicy,
  Telemetry: checkTelemetry,
  Namespace: checkNamespace,
  Service: checkService,
  Workload: checkWorkload,
};

interface Indexes {
  hosts: ReturnType<typeof collectKnownHosts>;
  references: ReturnType<typeof collectReferences>;
}

// What the other resources provide is computed once per `all` list (and domain), not once
// per VirtualService: a run validates every resource against the same list.
const indexCache = new WeakMap<readonly AnyResource[], Map<string, Indexes>>();

function indexes(context: ValidationContext, domain: string): Indexes {
  let byDomain = indexCache.get(context.all);
  if (!byDomain) indexCache.set(context.all, (byDomain = new Map()));
  let found = byDomain.get(domain);
  if (!found) byDomain.set(domain, (found = { hosts: collectKnownHosts(context.all, domain), references: collectReferences(context.all, domain) }));
  return found;
}

/**
 * Returns every semantic problem of one resource. Paths are field paths inside the
 * object (`spec.http[0].route`); position, kind and name are filled in by the caller.
 */
export function validateSemantics(resource: AnyResource, context: ValidationContext): Diagnostic[] {
  const f = new Findings();
  try {
    const kube = resource.kind === "Namespace" || resource.kind === "Service";
    checkMetadata(f, resource.metadata, { nameIsLabel: kube, startsWithLetter: resource.kind === "Service" });
    const check = CHECKS[resource.kind];
    // Kubernetes kinds may have no spec (a Namespace); checks then see an empty one.
    const spec = obj(resource.spec) ?? {};
    if (check) check(f, spec);
    if (resource.kind === "VirtualService") {
      const domain = context.domain || "cluster.local";
      const namespace = resource.metadata.namespace ?? "default";
      const { hosts, references } = indexes(context, domain);
      if (hosts) warnUnknownHosts(f, spec, namespace, domain, hosts);
      warnMissingReferences(f, spec, namespace, domain, references);
    }
  } catch (err) {
    // A check must never turn odd input into a stack trace; say which check gave up instead.
    f.error("", `internal error while checking ${resource.kind}: ${err instanceof Error ? err.message : String(err)}`, "please report this with the resource that caused it");
  }
  return f.list;
}
