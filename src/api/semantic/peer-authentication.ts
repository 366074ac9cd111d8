// PeerAuthentication: mTLS modes, and port-level mTLS, which needs a workload selector.
import { Findings, at } from "./findings.ts";
import { has, obj, type Obj } from "./read.ts";
import { checkWorkloadSelector } from "./labels.ts";
import { checkPolicyTargets } from "./common.ts";
import { isPortNumber } from "./ports.ts";

export function checkPeerAuthentication(f: Findings, spec: Obj): void {
  checkWorkloadSelector(f, "spec.selector", spec.selector);
  checkPolicyTargets(f, spec);
  const selector = obj(spec.selector);
  const emptySelector = !selector || Object.keys(obj(selector.matchLabels) ?? {}).length === 0;
  const portLevel = obj(spec.portLevelMtls);
  if (has(spec, "portLevelMtls") && portLevel) {
    if (emptySelector) {
      f.error("spec.portLevelMtls", "portLevelMtls requires a workload selector; a mesh- or namespace-wide PeerAuthentication cannot set port-level mTLS",
        "add selector.matchLabels naming the workloads whose ports these are");
    }
    if (Object.keys(portLevel).length === 0) f.error("spec.portLevelMtls", "portLevelMtls, if set, must have at least one port", "add a port, or remove portLevelMtls");
    for (const key of Object.keys(portLevel)) {
      const n = Number(key);
      if (!/^\d+$/.test(key) || !isPortNumber(n)) f.error(at("spec.portLevelMtls", key), `port "${key}" must be a number in the range 1..65535`, "key each entry by the workload's port number");
    }
  }
}
