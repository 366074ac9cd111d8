// AuthorizationPolicy: the action (and CUSTOM's provider), and each rule's from/to/when.
import { Findings, at } from "./findings.ts";
import { has, list, obj, str, type Obj } from "./read.ts";
import { checkWorkloadSelector } from "./labels.ts";
import { checkPolicyTargets } from "./common.ts";
import { checkIpOrCidr } from "./net.ts";
import { isPortNumber } from "./ports.ts";
import { SUPPORTED_KEYS, attributeCheck } from "./authz-attributes.ts";

const SOURCE_FIELDS = ["principals", "requestPrincipals", "namespaces", "ipBlocks", "remoteIpBlocks", "serviceAccounts"];
const OPERATION_FIELDS = ["hosts", "ports", "methods", "paths"];
const withNot = (fields: string[]): string[] => fields.flatMap((x) => [x, `not${x[0].toUpperCase()}${x.slice(1)}`]);
const CUSTOM_UNSUPPORTED_SOURCE = withNot(["principals", "requestPrincipals", "namespaces", "serviceAccounts"]);
const CUSTOM_UNSUPPORTED_KEYS = ["source.namespace", "source.serviceAccount", "source.principal"];

export function checkAuthorizationPolicy(f: Findings, spec: Obj): void {
  checkWorkloadSelector(f, "spec.selector", spec.selector);
  checkPolicyTargets(f, spec);
  const action = str(spec.action) ?? "ALLOW";
  const rules = spec.rules;

  if (action === "CUSTOM") {
    if (rules === undefined || rules === null) f.error("spec.rules", "CUSTOM action without rules is never triggered", "add rules; an empty rule `- {}` matches every request");
    else if (!str(obj(spec.provider)?.name)) f.error("spec.provider.name", "CUSTOM action needs provider.name", "name an extension provider from the mesh config");
  } else if (has(spec, "provider")) {
    f.error("spec.provider", `provider can only be used with action CUSTOM (action is ${action})`, "set action: CUSTOM, or remove provider");
  }
  if (action === "DENY" && (rules === undefined || rules === null)) {
    f.error("spec.rules", "DENY action without rules is never triggered", "add rules; an empty rule `- {}` denies every request");
  }

  for (const [i, raw] of list(rules).entries()) {
    const rule = obj(raw);
    const p = at("spec.rules", i);
    if (!rule) continue;
    if (Array.isArray(rule.from) && rule.from.length === 0) f.error(at(p, "from"), "from must not be empty", "add a source, or remove from to match any source");
    if (Array.isArray(rule.to) && rule.to.length === 0) f.error(at(p, "to"), "to must not be empty", "add an operation, or remove to to match any operation");
    for (const [j, rawFrom] of list(rule.from).entries()) checkSource(f, at(p, "from", j), obj(rawFrom), action);
    for (const [j, rawTo] of list(rule.to).entries()) checkOperation(f, at(p, "to", j), obj(rawTo));
    for (const [j, rawWhen] of list(rule.when).entries()) checkCondition(f, at(p, "when", j), obj(rawWhen), action);
  }
}

/**
 * Values in principals, namespaces, hosts...: non-empty; `*` only as prefix, suffix or alone
 * (paths may instead use the `{*}` / `{**}` templates, checked separately).
 */
function checkValues(f: Findings, path: string, values: unknown[]): void {
  for (const [k, raw] of values.entries()) {
    const v = str(raw);
    if (v === undefined) continue;
    if (v === "") f.error(at(path, k), "empty value is not allowed", "remove the empty value");
    else if (v.length > 2 && v.replace(/\{\*\*?\}/g, "{}").slice(1, -1).includes("*")) f.warn(at(path, k), `"*" in the middle of "${v}" is matched literally; only a leading or trailing "*" is a wildcard`, 'use "prefix*", "*suffix" or "*"');
  }
}

function checkSource(f: Findings, path: string, from: Obj | undefined, action: string): void {
  if (!from) return;
  const source = obj(from.source);
  if (!source) {
    f.error(at(path, "source"), "from.source is required", "add source with principals, namespaces, ipBlocks...");
    return;
  }
  const sp = at(path, "source");
  const fields = withNot(SOURCE_FIELDS);
  if (!fields.some((x) => list(source[x]).length > 0)) f.error(sp, "from.source must not be empty", `set at least one of ${SOURCE_FIELDS.join(", ")} (or their not* forms)`);
  const identity = withNot(["principals", "namespaces"]).some((x) => list(source[x]).length > 0);
  if (identity && withNot(["serviceAccounts"]).some((x) => list(source[x]).length > 0)) {
    f.error(sp, "serviceAccounts cannot be combined with principals or namespaces", "use either serviceAccounts or principals/namespaces");
  }
  for (const x of fields) {
    const values = list(source[x]);
    checkValues(f, at(sp, x), values);
    if (/[iI]pBlocks$/.test(x)) {
      for (const [k, raw] of values.entries()) {
        const v = str(raw);
        const problem = v ? checkIpOrCidr(v) : undefined;
        if (problem) f.error(at(sp, x, k), problem, "use an IP address or CIDR block, e.g. 10.0.0.0/16");
      }
    }
    if (/[sS]erviceAccounts$/.test(x)) {
      for (const [k, raw] of values.entries()) {
        const v = str(raw);
        if (v && !/^[^/]+\/[^/]+$/.test(v)) f.error(at(sp, x, k), `service account "${v}" must have the form namespace/name`, 'e.g. "default/sleep"');
      }
    }
    if (action === "CUSTOM" && CUSTOM_UNSUPPORTED_SOURCE.includes(x) && values.length > 0) {
      f.error(at(sp, x), `${x} is not supported with action CUSTOM`, "match on ipBlocks, operations or request attributes instead");
    }
  }
}

function checkOperation(f: Findings, path: string, to: Obj | undefined): void {
  if (!to) return;
  const op = obj(to.operation);
  if (!op) {
    f.error(at(path, "operation"), "to.operation is required", "add operation with paths, methods, ports or hosts");
    return;
  }
  const opPath = at(path, "operation");
  const fields = withNot(OPERATION_FIELDS);
  if (!fields.some((x) => list(op[x]).length > 0)) f.error(opPath, "to.operation must not be empty", `set at least one of ${OPERATION_FIELDS.join(", ")} (or their not* forms)`);
  for (const x of fields) {
    const values = list(op[x]);
    checkValues(f, at(opPath, x), values);
    for (const [k, raw] of values.entries()) {
      const v = str(raw);
      if (!v) continue;
      const p = at(opPath, x, k);
      if (/[pP]orts$/.test(x) && !(/^\d+$/.test(v) && isPortNumber(Number(v)))) f.error(p, `port "${v}" is not a number in the range 1..65535`, 'write the port number as a string, e.g. "8080"');
      if (/[mM]ethods$/.test(x) && v !== v.toUpperCase()) f.warn(p, `method "${v}" is not upper case; methods are matched case-sensitively`, `use "${v.toUpperCase()}"`);
      if (/[pP]aths$/.test(x)) {
        const problem = checkPathTemplate(v);
        if (problem) f.error(p, problem, 'use "{*}" for one path segment and "{**}" for the rest, e.g. "/api/{*}/items/{**}"');
      }
    }
  }
}

/** Istio's path templates: `{*}` matches one segment, `{**}` the rest (last only). */
export function checkPathTemplate(path: string): string | undefined {
  if (!path.includes("{") && !path.includes("}")) return undefined;
  const segments = path.split("/");
  for (const [i, segment] of segments.entries()) {
    if (!segment.includes("{") && !segment.includes("}")) continue;
    if (segment !== "{*}" && segment !== "{**}") return `path template segment "${segment}" in "${path}" must be exactly {*} or {**}`;
    if (segment === "{**}" && i !== segments.length - 1) return `"{**}" in "${path}" must be the last segment`;
  }
  return undefined;
}

function checkCondition(f: Findings, path: string, cond: Obj | undefined, action: string): void {
  if (!cond) return;
  const key = str(cond.key);
  if (!key) {
    f.error(at(path, "key"), "when.key must not be empty", `use one of ${SUPPORTED_KEYS.join(", ")}`);
    return;
  }
  const found = attributeCheck(key);
  if ("problem" in found) {
    f.error(at(path, "key"), found.problem, `use one of ${SUPPORTED_KEYS.join(", ")}`);
    return;
  }
  const values = list(cond.values);
  const notValues = list(cond.notValues);
  if (values.length === 0 && notValues.length === 0) f.error(path, `at least one of values or notValues must be set for key ${key}`, "add values (or notValues)");
  for (const field of ["values", "notValues"] as const) {
    for (const [k, raw] of list(cond[field]).entries()) {
      const v = str(raw);
      if (v === undefined) continue;
      const problem = v === "" ? "empty value is not allowed" : found.check(v);
      if (problem) f.error(at(path, field, k), `invalid value for key ${key}: ${problem}`, "fix or remove the value");
    }
  }
  if (action === "CUSTOM" && (CUSTOM_UNSUPPORTED_KEYS.includes(key) || key.startsWith("request.auth."))) {
    f.error(at(path, "key"), `${key} is not supported with action CUSTOM`, "match on request headers, IPs or operations instead");
  }
}
