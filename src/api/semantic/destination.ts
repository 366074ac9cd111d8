// A route's destination (host, subset, port) and the weights of a list of destinations.
import { Findings, at } from "./findings.ts";
import { list, num, obj, str } from "./read.ts";
import { checkWildcardHost, isDnsLabel } from "./hosts.ts";
import { checkPort } from "./ports.ts";

export function checkDestination(f: Findings, path: string, value: unknown): void {
  const d = obj(value);
  if (!d) return;
  const host = str(d.host);
  if (host !== undefined) {
    if (host === "*") f.error(at(path, "host"), 'destination host "*" is not allowed', "name one service, e.g. reviews or reviews.prod.svc.cluster.local");
    else {
      const problem = checkWildcardHost(host);
      if (problem) f.error(at(path, "host"), problem, "use a service name, e.g. reviews or reviews.prod.svc.cluster.local");
    }
  }
  const subset = str(d.subset);
  if (subset !== undefined && subset !== "" && !isDnsLabel(subset)) {
    f.error(at(path, "subset"), `subset name "${subset}" is invalid (must be a DNS-1123 label)`, 'use letters, digits and "-", e.g. v1');
  }
  const port = obj(d.port);
  if (port) checkPort(f, at(path, "port", "number"), port.number);
}

/**
 * Each weight is a percentage (0..100); when a route has more than one destination the
 * weights must add up to exactly 100 (the rule of the brief and of Istio's validation
 * that introduced weighted routing; newer Istio only rejects a total of 0).
 */
export function checkWeights(f: Findings, path: string, routes: unknown): void {
  const items = list(routes);
  let total = 0;
  for (const [i, raw] of items.entries()) {
    const w = num(obj(raw)?.weight);
    if (w === undefined) continue;
    if (w < 0 || w > 100) f.error(at(path, i, "weight"), `weight ${w} must be between 0 and 100`, "use a percentage from 0 to 100");
    total += w;
  }
  if (items.length > 1 && total !== 100) {
    f.error(path, `weights must sum to 100 when there is more than one destination (they sum to ${total})`, "adjust the weights so they add up to 100");
  }
}

/** Every `{destination: ...}` entry of a route list: destination required, then its checks. */
export function checkRouteDestinations(f: Findings, path: string, routes: unknown): void {
  for (const [i, raw] of list(routes).entries()) {
    const r = obj(raw);
    if (!r) continue;
    if (!obj(r.destination)) f.error(at(path, i, "destination"), "destination is required", "add destination.host");
    else checkDestination(f, at(path, i, "destination"), r.destination);
  }
  checkWeights(f, path, routes);
}
