// Telemetry: tracing sampling, provider references, metric overrides and access log filters.
import { parse as parseCel } from "@marcbachmann/cel-js";
import { Findings, at } from "./findings.ts";
import { has, list, num, obj, str, stringMap, type Obj } from "./read.ts";
import { checkWorkloadSelector } from "./labels.ts";
import { checkDuration, checkPolicyTargets } from "./common.ts";

function checkProviders(f: Findings, path: string, value: unknown): void {
  for (const [i, raw] of list(value).entries()) {
    const name = str(obj(raw)?.name);
    if (name === undefined) continue;
    if (name === "") f.error(at(path, i, "name"), "provider name must not be empty", 'name an extension provider from the mesh config, e.g. "zipkin" or "prometheus"');
  }
}

export function checkTelemetry(f: Findings, spec: Obj): void {
  checkWorkloadSelector(f, "spec.selector", spec.selector);
  checkPolicyTargets(f, spec);
  for (const [i, raw] of list(spec.tracing).entries()) {
    const t = obj(raw);
    if (!t) continue;
    const p = at("spec.tracing", i);
    checkProviders(f, at(p, "providers"), t.providers);
    const rate = num(t.randomSamplingPercentage);
    if (rate !== undefined && (rate < 0 || rate > 100)) f.error(at(p, "randomSamplingPercentage"), `randomSamplingPercentage ${rate} must be between 0 and 100`, "use a percentage from 0 to 100, e.g. 1 for 1% of requests");
    for (const [name, rawTag] of stringMap(t.customTags)) {
      const tag = obj(rawTag);
      if (!tag) continue;
      const kinds = ["literal", "environment", "header"].filter((k) => has(tag, k));
      if (kinds.length !== 1) f.error(at(p, "customTags", name), `custom tag "${name}" needs exactly one of literal, environment or header`, "keep one source for the tag value");
    }
  }
  for (const [i, raw] of list(spec.metrics).entries()) {
    const m = obj(raw);
    if (!m) continue;
    const p = at("spec.metrics", i);
    checkProviders(f, at(p, "providers"), m.providers);
    if (has(m, "reportingInterval")) checkDuration(f, at(p, "reportingInterval"), m.reportingInterval);
    for (const [j, rawO] of list(m.overrides).entries()) {
      const o = obj(rawO);
      if (!o) continue;
      const match = obj(o.match);
      if (match && str(match.metric) && str(match.customMetric)) f.error(at(p, "overrides", j, "match"), "match can set metric or customMetric, not both", "keep one of them");
      for (const [tag, rawT] of stringMap(o.tagOverrides)) {
        const t = obj(rawT);
        if (!t) continue;
        const op = str(t.operation) ?? "UPSERT";
        const tp = at(p, "overrides", j, "tagOverrides", tag);
        if (op === "UPSERT" && !str(t.value)) f.error(at(tp, "value"), `tag override "${tag}" with operation UPSERT needs a value`, "set value to a CEL expression, e.g. request.host");
        if (op === "REMOVE" && has(t, "value")) f.error(at(tp, "value"), `tag override "${tag}" with operation REMOVE must not have a value`, "remove value");
        const celError = op === "UPSERT" && str(t.value) ? celParseError(str(t.value)!) : undefined;
        if (celError) f.error(at(tp, "value"), `tag override "${tag}" value ${JSON.stringify(t.value)} is not valid CEL (${celError})`, "write a CEL expression, e.g. request.host, or a quoted constant such as \"'blue'\"");
      }
    }
  }
  for (const [i, raw] of list(spec.accessLogging).entries()) {
    const a = obj(raw);
    if (!a) continue;
    const p = at("spec.accessLogging", i);
    checkProviders(f, at(p, "providers"), a.providers);
    const filter = obj(a.filter);
    if (filter && !str(filter.expression)) f.error(at(p, "filter", "expression"), "access log filter needs an expression", 'write a CEL expression, e.g. response.code >= 400');
    else if (filter) {
      // Parsed by a real CEL parser here, so a typo is refused where the user wrote it
      // instead of only showing up later as an unfiltered log.
      const error = celParseError(str(filter.expression)!);
      if (error) f.error(at(p, "filter", "expression"), `access log filter ${JSON.stringify(filter.expression)} is not valid CEL (${error})`, 'fix the expression, e.g. response.code >= 400 && request.method == "GET"');
    }
  }
}

function celParseError(expression: string): string | undefined {
  try {
    parseCel(expression);
    return undefined;
  } catch (err) {
    return (err instanceof Error ? err.message : String(err)).split("\n")[0];
  }
}
