// DestinationRule: host, subsets (unique DNS-label names, valid labels) and traffic policies.
import { Findings, at } from "./findings.ts";
import { list, obj, str, type Obj } from "./read.ts";
import { checkExportTo } from "./common.ts";
import { checkWildcardHost, isDnsLabel } from "./hosts.ts";
import { checkLabels, checkWorkloadSelector } from "./labels.ts";
import { checkTrafficPolicy } from "./traffic-policy.ts";
import { checkUnique } from "./ports.ts";

export function checkDestinationRule(f: Findings, spec: Obj): void {
  const host = str(spec.host);
  if (host !== undefined) {
    const problem = checkWildcardHost(host);
    if (problem) f.error("spec.host", problem, "use a service name, e.g. reviews or reviews.prod.svc.cluster.local");
  }
  checkTrafficPolicy(f, "spec.trafficPolicy", spec.trafficPolicy);
  const names: { path: string; value: string | undefined }[] = [];
  for (const [i, raw] of list(spec.subsets).entries()) {
    const subset = obj(raw);
    if (!subset) continue;
    const p = at("spec.subsets", i);
    const name = str(subset.name);
    if (name === "") f.error(at(p, "name"), "subset name must not be empty", "name the subset, e.g. v1");
    else if (name !== undefined && !isDnsLabel(name)) f.error(at(p, "name"), `subset name "${name}" is invalid (must be a DNS-1123 label)`, 'use letters, digits and "-", e.g. v1');
    names.push({ path: at(p, "name"), value: name });
    checkLabels(f, at(p, "labels"), subset.labels);
    checkTrafficPolicy(f, at(p, "trafficPolicy"), subset.trafficPolicy);
  }
  checkUnique(f, names, "subset name", "give each subset a unique name");
  checkWorkloadSelector(f, "spec.workloadSelector", spec.workloadSelector);
  checkExportTo(f, "spec.exportTo", spec.exportTo);
}
