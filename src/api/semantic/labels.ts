// Kubernetes label syntax (Istio validates selectors and subset labels with the same
// rules): a key is an optional DNS-subdomain prefix and a `/`, then a name of up to 63
// characters; a value is empty or up to 63 characters, alphanumeric at both ends.
import { Findings, at } from "./findings.ts";
import { obj, str } from "./read.ts";
import { isDnsSubdomain } from "./hosts.ts";

const NAME = /^[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?$/;

export function checkLabelKey(key: string): string | undefined {
  if (key === "") return "label key must not be empty";
  const slash = key.lastIndexOf("/");
  const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  if (prefix !== undefined && !isDnsSubdomain(prefix)) return `label key "${key}" has an invalid prefix "${prefix}" (must be a lower-case DNS subdomain)`;
  if (name.length > 63 || !NAME.test(name)) return `label key "${key}" is invalid (name part must be at most 63 characters: letters, digits, "-", "_", ".", starting and ending with a letter or digit)`;
  return undefined;
}

export function checkLabelValue(value: string): string | undefined {
  if (value === "") return undefined;
  if (value.length > 63 || !NAME.test(value)) return `label value "${value}" is invalid (at most 63 characters: letters, digits, "-", "_", ".", starting and ending with a letter or digit)`;
  return undefined;
}

const LABEL_FIX = "use Kubernetes label syntax, e.g. app: reviews or app.kubernetes.io/version: v1";

/** A map of labels (selector, subset labels, workload labels). */
export function checkLabels(f: Findings, path: string, value: unknown, opts: { selector?: boolean } = {}): void {
  const labels = obj(value);
  if (!labels) return;
  for (const [key, raw] of Object.entries(labels)) {
    const p = at(path, key);
    const keyProblem = checkLabelKey(key);
    if (opts.selector && (key.includes("*") || (typeof raw === "string" && raw.includes("*")))) {
      f.error(p, `wildcard is not supported in selector: "${key}=${String(raw)}"`, "select workloads by exact label values");
      continue;
    }
    if (keyProblem) f.error(p, keyProblem, LABEL_FIX);
    const v = str(raw);
    if (v !== undefined) {
      const valueProblem = checkLabelValue(v);
      if (valueProblem) f.error(p, valueProblem, LABEL_FIX);
    }
  }
}

/**
 * Istio's workload selector: exact labels under `matchLabels` (DestinationRule, security and
 * telemetry kinds) or under `labels` (Sidecar and ServiceEntry `workloadSelector`).
 */
export function checkWorkloadSelector(f: Findings, path: string, value: unknown, field: "matchLabels" | "labels" = "matchLabels"): void {
  const selector = obj(value);
  if (!selector) return;
  const labels = obj(selector[field]);
  if (!labels || Object.keys(labels).length === 0) {
    f.warn(at(path, field), "workload selector has no labels; it selects every workload in the namespace", `add ${field}, or remove the selector to say so explicitly`);
    return;
  }
  checkLabels(f, at(path, field), labels, { selector: true });
}
