// One AuthorizationPolicy rule → one Envoy RBAC policy (permissions + principals).
// Semantics as Istio: the rule matches when one `from` source matches AND one `to`
// operation matches AND every `when` condition holds; inside a source or operation every
// field must match; inside a field one value must match; a `not*` field must match none
// of its values. An empty rule matches everything.
//
// On TCP chains HTTP-only attributes cannot be evaluated. Istio's documented behaviour:
// an ALLOW rule using one is dropped (it allows nothing: fail closed); in a DENY (or
// AUDIT) rule the HTTP-only parts are ignored, so the rule denies more.
import type { AuthorizationCondition, AuthorizationOperation, AuthorizationRule, AuthorizationSource } from "../../../api/kinds.ts";
import type { EnvoyJson } from "../types.ts";
import {
  authnMetadata,
  cidrRange,
  headerMatcher,
  hostMatchers,
  metadataMatcher,
  namespacePrincipal,
  pathMatcher,
  principalName,
  stringMatcher,
} from "./rbac-matchers.ts";

export type RbacAction = "ALLOW" | "DENY" | "AUDIT";
type Side = "principal" | "permission";

/** A piece of a rule: which side of the Envoy policy it lands on, and whether it needs HTTP. */
interface Clause {
  side: Side;
  http: boolean;
  matcher: EnvoyJson;
}

export interface RuleContext {
  /** Namespace of the policy (serviceAccounts without namespace). */
  namespace: string;
  trustDomain: string;
  forTcp: boolean;
  action: RbacAction;
  /** Reports a problem with a field path relative to the rule (`from[0].source.ipBlocks[1]`). */
  report: (path: string, message: string) => void;
}

// ---------------------------------------------------------------- combinators

export function anyOf(side: Side, items: EnvoyJson[]): EnvoyJson {
  if (items.length === 1) return items[0];
  return side === "principal" ? { or_ids: { ids: items } } : { or_rules: { rules: items } };
}

export function allOf(side: Side, items: EnvoyJson[]): EnvoyJson {
  if (items.length === 0) return { any: true };
  if (items.length === 1) return items[0];
  return side === "principal" ? { and_ids: { ids: items } } : { and_rules: { rules: items } };
}

export function not(side: Side, item: EnvoyJson): EnvoyJson {
  return side === "principal" ? { not_id: item } : { not_rule: item };
}

/** Matches nothing. */
export function never(side: Side): EnvoyJson {
  return not(side, { any: true });
}

// ---------------------------------------------------------------- fields

interface FieldSpec {
  side: Side;
  http: boolean;
  /** Matcher for one value; undefined when the value is unusable (reported). */
  one: (value: string, ctx: RuleContext, report: (message: string) => void) => EnvoyJson[] | undefined;
}

const ipField = (key: "direct_remote_ip" | "remote_ip"): FieldSpec => ({
  side: "principal",
  http: false,
  one: (value, _ctx, report) => {
    const range = cidrRange(value);
    if (!range) {
      report(`"${value}" is not an IP address or CIDR block; write e.g. 10.0.0.0/16`);
      return undefined;
    }
    return [{ [key]: range }];
  },
});

const sourceFields: Record<string, FieldSpec> = {
  principals: { side: "principal", http: false, one: (v) => [principalName(v)] },
  requestPrincipals: { side: "principal", http: true, one: (v) => [authnMetadata(["request.auth.principal"], v, false)] },
  namespaces: { side: "principal", http: false, one: (v) => [namespacePrincipal(v)] },
  ipBlocks: ipField("direct_remote_ip"),
  remoteIpBlocks: ipField("remote_ip"),
  serviceAccounts: {
    side: "principal",
    http: false,
    one: (v, ctx) => {
      const [ns, sa] = v.includes("/") ? v.split("/", 2) : [ctx.namespace, v];
      return [principalName(`${ctx.trustDomain}/ns/${ns}/sa/${sa}`)];
    },
  },
};

const portOf = (value: string, report: (message: string) => void): number | undefined => {
  const port = Number(value);
  if (!/^\d+$/.test(value) || port < 1 || port > 65535) {
    report(`"${value}" is not a port number (1-65535)`);
    return undefined;
  }
  return port;
};

const operationFields: Record<string, FieldSpec> = {
  hosts: { side: "permission", http: true, one: (v) => hostMatchers(v) },
  ports: {
    side: "permission",
    http: false,
    one: (v, _ctx, report) => {
      const port = portOf(v, report);
      return port === undefined ? undefined : [{ destination_port: port }];
    },
  },
  methods: { side: "permission", http: true, one: (v) => [headerMatcher(":method", v)] },
  paths: { side: "permission", http: true, one: (v) => [pathMatcher(v)] },
};

/** Istio's condition keys. `[...]` parts are parsed by conditionField. */
function conditionField(key: string, report: (message: string) => void): FieldSpec | undefined {
  const header = /^request\.headers\[([^\]]+)\]$/.exec(key);
  if (header) return { side: "principal", http: true, one: (v) => [headerMatcher(header[1].toLowerCase(), v)] };
  const claims = /^request\.auth\.claims((?:\[[^\]]+\])+)$/.exec(key);
  if (claims) {
    const path = ["request.auth.claims", ...[...claims[1].matchAll(/\[([^\]]+)\]/g)].map((m) => m[1])];
    return { side: "principal", http: true, one: (v) => [authnMetadata(path, v, true)] };
  }
  const experimental = /^experimental\.envoy\.filters\.([a-z0-9_.]+)\[([^\]]+)\]$/.exec(key);
  if (experimental) {
    const filter = `envoy.filters.${experimental[1]}`;
    return { side: "permission", http: false, one: (v) => [metadataMatcher(filter, [experimental[2]], v, true)] };
  }
  switch (key) {
    case "source.ip":
      return ipField("direct_remote_ip");
    case "remote.ip":
      return ipField("remote_ip");
    case "source.namespace":
      return sourceFields.namespaces;
    case "source.principal":
      return sourceFields.principals;
    case "request.auth.principal":
      return sourceFields.requestPrincipals;
    case "request.auth.audiences":
      return { side: "principal", http: true, one: (v) => [authnMetadata(["request.auth.audiences"], v, true)] };
    case "request.auth.presenter":
      return { side: "principal", http: true, one: (v) => [authnMetadata(["request.auth.presenter"], v, false)] };
    case "destination.ip":
      return {
        side: "permission",
        http: false,
        one: (v, _ctx, rep) => {
          const range = cidrRange(v);
          if (!range) rep(`"${v}" is not an IP address or CIDR block`);
          return range ? [{ destination_ip: range }] : undefined;
        },
      };
    case "destination.port":
      return operationFields.ports;
    case "connection.sni":
      return { side: "permission", http: false, one: (v) => [{ requested_server_name: stringMatcher(v) }] };
  }
  report(`unknown condition key "${key}"; see Istio's authorization condition keys (request.headers[...], source.ip, ...)`);
  return undefined;
}

/**
 * One field's clause: OR over `values`, negated for `not*`. Unusable values are
 * reported and left out; undefined when nothing usable is left.
 */
function fieldClause(spec: FieldSpec, values: string[], negate: boolean, ctx: RuleContext, path: string): Clause | undefined {
  const matchers: EnvoyJson[] = [];
  values.forEach((value, i) => {
    const built = spec.one(value, ctx, (message) => ctx.report(`${path}[${i}]`, message));
    if (built) matchers.push(...built);
  });
  if (matchers.length === 0) {
    // Nothing usable to exclude: the `not*` field is void. Nothing usable to match: the
    // field matches nothing (fail closed rather than dropping the restriction).
    return negate ? undefined : { side: spec.side, http: spec.http, matcher: never(spec.side) };
  }
  const or = anyOf(spec.side, matchers);
  return { side: spec.side, http: spec.http, matcher: negate ? not(spec.side, or) : or };
}

function notName(field: string): string {
  return `not${field[0].toUpperCase()}${field.slice(1)}`;
}

/** Every field of a source or operation, positive and `not*`, in a fixed order. */
function fieldClauses(
  fields: Record<string, FieldSpec>,
  object: AuthorizationSource | AuthorizationOperation,
  ctx: RuleContext,
  path: string,
): Clause[] {
  const record = object as Record<string, string[] | undefined>;
  const out: Clause[] = [];
  for (const [field, spec] of Object.entries(fields)) {
    for (const [name, negate] of [[field, false], [notName(field), true]] as const) {
      const values = record[name];
      if (!values || values.length === 0) continue;
      const clause = fieldClause(spec, values, negate, ctx, `${path}.${name}`);
      if (clause) out.push(clause);
    }
  }
  return out;
}

function conditionClauses(condition: AuthorizationCondition, ctx: RuleContext, path: string): Clause[] {
  const spec = conditionField(condition.key, (message) => ctx.report(`${path}.key`, message));
  if (!spec) return [{ side: "principal", http: false, matcher: never("principal") }];
  const out: Clause[] = [];
  for (const [name, negate] of [["values", false], ["notValues", true]] as const) {
    const values = condition[name];
    if (!values || values.length === 0) continue;
    const clause = fieldClause(spec, values, negate, ctx, `${path}.${name}`);
    if (clause) out.push(clause);
  }
  return out;
}

/** Why an ALLOW rule is dropped on a TCP chain, or undefined when it is kept. */
export type RuleOutcome = { policy: EnvoyJson } | { dropped: string };

/**
 * Keeps the clauses a chain can evaluate. On TCP an HTTP-only clause drops an ALLOW
 * rule (returns undefined) and is ignored in DENY/AUDIT rules.
 */
function usable(clauses: Clause[], ctx: RuleContext): Clause[] | undefined {
  if (!ctx.forTcp) return clauses;
  if (clauses.some((c) => c.http)) return ctx.action === "ALLOW" ? undefined : clauses.filter((c) => !c.http);
  return clauses;
}

/** Builds the Envoy RBAC policy for one rule. */
export function rulePolicy(rule: AuthorizationRule, ctx: RuleContext): RuleOutcome {
  const httpOnly = "it uses HTTP-only fields on a TCP port";
  // from: OR over sources, each an AND of its fields.
  const sources: EnvoyJson[] = [];
  for (const [i, from] of (rule.from ?? []).entries()) {
    const clauses = usable(fieldClauses(sourceFields, from.source ?? {}, ctx, `from[${i}].source`), ctx);
    if (!clauses) return { dropped: httpOnly };
    sources.push(allOf("principal", clauses.map((c) => c.matcher)));
  }
  const operations: EnvoyJson[] = [];
  for (const [i, to] of (rule.to ?? []).entries()) {
    const clauses = usable(fieldClauses(operationFields, to.operation ?? {}, ctx, `to[${i}].operation`), ctx);
    if (!clauses) return { dropped: httpOnly };
    operations.push(allOf("permission", clauses.map((c) => c.matcher)));
  }
  const conditions = usable(
    (rule.when ?? []).flatMap((c, i) => conditionClauses(c, ctx, `when[${i}]`)),
    ctx,
  );
  if (!conditions) return { dropped: httpOnly };
  const principals = [
    ...(sources.length > 0 ? [anyOf("principal", sources)] : []),
    ...conditions.filter((c) => c.side === "principal").map((c) => c.matcher),
  ];
  const permissions = [
    ...(operations.length > 0 ? [anyOf("permission", operations)] : []),
    ...conditions.filter((c) => c.side === "permission").map((c) => c.matcher),
  ];
  return { policy: { permissions: [allOf("permission", permissions)], principals: [allOf("principal", principals)] } };
}
