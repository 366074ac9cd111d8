// Checks shared by several kinds: metadata names, string matches, durations, percents,
// exportTo, header operations, policy target references.
import { Findings, at } from "./findings.ts";
import { has, list, num, obj, str, stringMap, type Obj } from "./read.ts";
import { DURATION_FIX, checkDurationValue } from "./duration.ts";
import { RE2_FIX, checkRe2 } from "./regex.ts";
import { checkHeaderOperationName } from "./headers.ts";
import { isDnsSubdomain, isLowerDnsLabel } from "./hosts.ts";

/** Kubernetes object names: DNS subdomain; namespace: DNS label. */
export function checkMetadata(f: Findings, metadata: unknown, opts: { nameIsLabel?: boolean; startsWithLetter?: boolean } = {}): void {
  const m = obj(metadata);
  if (!m) return;
  const name = str(m.name);
  if (name !== undefined && name !== "") {
    const ok = opts.nameIsLabel ? isLowerDnsLabel(name) : isDnsSubdomain(name);
    if (!ok) {
      f.error("metadata.name", `name "${name}" is not a valid ${opts.nameIsLabel ? "DNS-1123 label" : "DNS-1123 subdomain"}`,
        `use lower-case letters, digits and "-"${opts.nameIsLabel ? "" : ' (and ".")'}, starting and ending with a letter or digit`);
    } else if (opts.startsWithLetter && !/^[a-z]/.test(name)) {
      // Service names become DNS names and environment variables, hence DNS-1035.
      f.error("metadata.name", `name "${name}" must start with a letter`, "rename it to start with a lower-case letter");
    }
  }
  const ns = str(m.namespace);
  if (ns !== undefined && ns !== "" && !isLowerDnsLabel(ns)) {
    f.error("metadata.namespace", `namespace "${ns}" is not a valid DNS-1123 label`, 'use lower-case letters, digits and "-", at most 63 characters');
  }
}

export function checkDuration(f: Findings, path: string, value: unknown, opts: { allowZero?: boolean } = {}): void {
  const text = str(value);
  if (text === undefined) return;
  const problem = checkDurationValue(text, opts);
  if (problem) f.error(path, problem, DURATION_FIX);
}

export function checkRegex(f: Findings, path: string, value: unknown): void {
  const text = str(value);
  if (text === undefined) return;
  const problem = checkRe2(text);
  if (problem) f.error(path, problem, RE2_FIX);
}

/** Istio's StringMatch: a non-empty prefix, and an RE2 regex. */
export function checkStringMatch(f: Findings, path: string, value: unknown): void {
  const m = obj(value);
  if (!m) return;
  if (str(m.prefix) === "") f.error(at(path, "prefix"), "prefix string match must not be empty", 'use prefix: "/" to match everything, or remove the match');
  if (has(m, "regex")) checkRegex(f, at(path, "regex"), m.regex);
}

/** A Percent message `{value: n}` (fault and mirror percentages): 0..100. */
export function checkPercent(f: Findings, path: string, value: unknown, what: string): void {
  const p = obj(value);
  const v = num(p?.value);
  if (v !== undefined && (v < 0 || v > 100)) f.error(at(path, "value"), `${what} ${v} must be between 0 and 100`, "use a percentage from 0 to 100");
}

/** exportTo: `.`, `*`, `~` or namespace names; `*` and `~` stand alone. */
export function checkExportTo(f: Findings, path: string, value: unknown): void {
  const items = list(value);
  for (const [i, raw] of items.entries()) {
    const v = str(raw);
    if (v === undefined) continue;
    if (v !== "." && v !== "*" && v !== "~" && !isLowerDnsLabel(v)) {
      f.error(at(path, i), `exportTo value "${v}" is not ".", "*", "~" or a namespace name`, 'use "." (this namespace), "*" (all) or a namespace name');
    }
  }
  const values = items.map(str);
  if ((values.includes("*") || values.includes("~")) && values.length > 1) {
    f.error(path, `exportTo "${values.includes("*") ? "*" : "~"}" cannot be combined with other values`, "use it alone");
  }
}

/** headers.request / headers.response operations. */
export function checkHeaderOperations(f: Findings, path: string, value: unknown): void {
  const h = obj(value);
  if (!h) return;
  for (const side of ["request", "response"] as const) {
    const ops = obj(h[side]);
    if (!ops) continue;
    for (const op of ["set", "add"] as const) {
      for (const [name] of stringMap(ops[op])) {
        const problem = checkHeaderOperationName(name, { allowAuthority: side === "request" });
        if (problem) f.error(at(path, side, op, name), problem, "use a valid header name; change the authority with rewrite.authority");
      }
    }
    for (const [i, raw] of list(ops.remove).entries()) {
      const name = str(raw);
      if (name === undefined) continue;
      const problem = checkHeaderOperationName(name);
      if (problem) f.error(at(path, side, "remove", i), problem, "use a valid header name");
    }
  }
}

const TARGET_KINDS = ["Service", "ServiceEntry", "Gateway", "GatewayClass"];

/** targetRef / targetRefs of security and telemetry policies, and their exclusivity with selector. */
export function checkPolicyTargets(f: Findings, spec: Obj): void {
  const set = [has(spec, "selector"), has(spec, "targetRef"), list(spec.targetRefs).length > 0].filter(Boolean).length;
  if (set > 1) f.error("spec", "only one of selector, targetRef or targetRefs can be set", "keep one way of choosing workloads");
  const refs: [string, unknown][] = [];
  if (has(spec, "targetRef")) refs.push(["spec.targetRef", spec.targetRef]);
  for (const [i, r] of list(spec.targetRefs).entries()) refs.push([at("spec.targetRefs", i), r]);
  for (const [path, raw] of refs) {
    const ref = obj(raw);
    if (!ref) continue;
    if (str(ref.name) === "") f.error(at(path, "name"), "targetRef name must be set", "name the Service or Gateway the policy applies to");
    if (str(ref.namespace)) f.error(at(path, "namespace"), "targetRef namespace must not be set; cross-namespace references are not supported", "put the policy in the target's namespace and drop namespace");
    const kind = str(ref.kind);
    if (kind !== undefined && !TARGET_KINDS.includes(kind)) f.error(at(path, "kind"), `targetRef kind "${kind}" is not supported`, `use one of ${TARGET_KINDS.join(", ")}`);
  }
}
