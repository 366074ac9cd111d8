// The RBAC engine (config.rbac.v3.RBAC): a policy matches when ANY of its permissions
// and ANY of its principals match. ALLOW lets in only what some policy matches, DENY
// keeps out what some policy matches, LOG lets everything in and only marks matches.
// Compiled once per configuration; evaluation allocates nothing but the result.
import { ConfigError, arr, obj, onlyFields, str } from "../json.ts";
import { compilePermission, compilePrincipal, type RbacInput, type RbacPredicate } from "./rbac-matchers.ts";

export type RbacAction = "ALLOW" | "DENY" | "LOG";

export interface RbacDecision {
  allowed: boolean;
  /** Name of the first policy (by name order, as Envoy's std::map) that matched, or undefined. */
  matchedPolicy: string | undefined;
}

interface CompiledPolicy {
  name: string;
  permissions: RbacPredicate[];
  principals: RbacPredicate[];
}

export class RbacEngine {
  private constructor(
    readonly action: RbacAction,
    private readonly policies: readonly CompiledPolicy[],
  ) {}

  /** Compile an RBAC message; any field the proxy does not implement is a ConfigError at its path. */
  static compile(value: unknown, path: string): RbacEngine {
    const o = obj(value);
    if (!o) throw new ConfigError(path, "expected an RBAC object");
    onlyFields(o, path, ["action", "policies"]);
    const action = (str(o.action) ?? "ALLOW") as RbacAction;
    if (!["ALLOW", "DENY", "LOG"].includes(action)) throw new ConfigError(`${path}.action`, `action "${action}" is not one of ALLOW, DENY, LOG`);
    const policiesJson = obj(o.policies) ?? {};
    const names = Object.keys(policiesJson).sort();
    const policies = names.map((name): CompiledPolicy => {
      const pp = `${path}.policies.${name}`;
      const p = obj(policiesJson[name]);
      if (!p) throw new ConfigError(pp, "expected a Policy object");
      // condition / checked_condition are CEL expressions: not implemented, so refused.
      onlyFields(p, pp, ["permissions", "principals"]);
      const permissions = arr(p.permissions).map((x, i) => compilePermission(x, `${pp}.permissions[${i}]`));
      const principals = arr(p.principals).map((x, i) => compilePrincipal(x, `${pp}.principals[${i}]`));
      if (permissions.length === 0) throw new ConfigError(`${pp}.permissions`, "needs at least one permission (use {any: true} to match all)");
      if (principals.length === 0) throw new ConfigError(`${pp}.principals`, "needs at least one principal (use {any: true} to match all)");
      return { name, permissions, principals };
    });
    return new RbacEngine(action, policies);
  }

  /** The first matching policy's name, or undefined. */
  match(input: RbacInput): string | undefined {
    for (const p of this.policies) {
      if (p.permissions.some((m) => m(input)) && p.principals.some((m) => m(input))) return p.name;
    }
    return undefined;
  }

  decide(input: RbacInput): RbacDecision {
    const matchedPolicy = this.match(input);
    const allowed = this.action === "ALLOW" ? matchedPolicy !== undefined : this.action === "DENY" ? matchedPolicy === undefined : true;
    return { allowed, matchedPolicy };
  }
}
