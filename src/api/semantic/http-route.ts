// One HTTP route of a VirtualService: what it does (route, redirect, directResponse or
// delegate, exactly one), its matches, retries, fault injection, mirroring and CORS.
import { Findings, at } from "./findings.ts";
import { has, list, num, obj, str, stringMap, type Obj } from "./read.ts";
import { checkDuration, checkHeaderOperations, checkPercent, checkRegex, checkStringMatch } from "./common.ts";
import { checkDestination, checkRouteDestinations } from "./destination.ts";
import { checkHeaderName } from "./headers.ts";
import { checkLabels } from "./labels.ts";
import { checkPort } from "./ports.ts";
import { checkGatewayNames } from "./gateway-names.ts";

// Envoy's x-envoy-retry-on and x-envoy-retry-grpc-on values, which Istio accepts in retryOn.
const RETRY_ON = [
  "5xx", "gateway-error", "reset", "reset-before-request", "connect-failure", "envoy-ratelimited", "retriable-4xx",
  "refused-stream", "retriable-status-codes", "retriable-headers", "http3-post-connect-failure",
  "cancelled", "deadline-exceeded", "internal", "resource-exhausted", "unavailable",
];
const GRPC_STATUS = [
  "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED",
  "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED",
];
const CORS_METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD", "CONNECT", "TRACE"];

export interface HttpRouteContext {
  /** The VirtualService has no hosts: it is a delegate, used by another VirtualService. */
  delegate: boolean;
  /** The VirtualService is bound to gateways only (not `mesh`). */
  gatewayOnly: boolean;
}

export function checkHttpRoute(f: Findings, path: string, route: Obj, ctx: HttpRouteContext): void {
  checkExclusivity(f, path, route, ctx);
  for (const [i, m] of list(route.match).entries()) checkMatch(f, at(path, "match", i), obj(m), ctx);
  checkRouteDestinations(f, at(path, "route"), route.route);
  for (const [i, raw] of list(route.route).entries()) checkHeaderOperations(f, at(path, "route", i, "headers"), obj(raw)?.headers);
  checkHeaderOperations(f, at(path, "headers"), route.headers);
  if (has(route, "timeout")) checkDuration(f, at(path, "timeout"), route.timeout, { allowZero: true });
  checkRetries(f, at(path, "retries"), obj(route.retries));
  checkFault(f, at(path, "fault"), obj(route.fault));
  checkRedirect(f, at(path, "redirect"), obj(route.redirect));
  checkDirectResponse(f, at(path, "directResponse"), obj(route.directResponse));
  checkRewrite(f, at(path, "rewrite"), obj(route.rewrite));
  checkMirroring(f, path, route);
  checkCors(f, at(path, "corsPolicy"), obj(route.corsPolicy));
}

function checkExclusivity(f: Findings, path: string, route: Obj, ctx: HttpRouteContext): void {
  const hasRoute = list(route.route).length > 0;
  const actions = [hasRoute && "route", has(route, "redirect") && "redirect", has(route, "directResponse") && "directResponse", has(route, "delegate") && "delegate"]
    .filter((a): a is string => typeof a === "string");
  if (actions.length > 1) {
    f.error(path, `HTTP route can only have one of route, redirect, directResponse or delegate (it has ${actions.join(" and ")})`, "split it into separate routes, or keep one action");
  }
  if (actions.length === 0) f.error(path, "HTTP route needs one of route, redirect, directResponse or delegate", "add a route with a destination");
  if (has(route, "delegate") && ctx.delegate) f.error(at(path, "delegate"), "a delegate VirtualService cannot delegate again", "route to a destination instead");
  for (const other of ["redirect", "directResponse"]) {
    if (!has(route, other)) continue;
    if (has(route, "rewrite")) f.error(at(path, "rewrite"), `HTTP route cannot contain both rewrite and ${other}`, "remove rewrite");
    if (has(route, "fault")) f.error(at(path, "fault"), `HTTP route cannot contain both fault and ${other}`, "remove fault");
  }
}

function checkMatch(f: Findings, path: string, m: Obj | undefined, ctx: HttpRouteContext): void {
  if (!m) return;
  for (const field of ["uri", "scheme", "method", "authority"]) checkStringMatch(f, at(path, field), m[field]);
  for (const field of ["headers", "withoutHeaders", "queryParams"]) {
    for (const [name, value] of stringMap(m[field])) {
      const p = at(path, field, name);
      if (field !== "queryParams") {
        const claimRouting = name.startsWith("@request.auth.claims");
        if (claimRouting && !ctx.gatewayOnly) f.error(p, `JWT claim based routing ("${name}") is only supported on gateways`, "bind the VirtualService to a gateway, or match a header instead");
        const problem = claimRouting ? undefined : checkHeaderName(name);
        if (problem) f.error(p, problem, "use a valid header name");
      }
      checkStringMatch(f, p, value);
    }
  }
  if (num(m.port) !== undefined && m.port !== 0) checkPort(f, at(path, "port"), m.port);
  checkLabels(f, at(path, "sourceLabels"), m.sourceLabels);
  checkGatewayNames(f, at(path, "gateways"), m.gateways);
}

function checkRetries(f: Findings, path: string, r: Obj | undefined): void {
  if (!r) return;
  const attempts = num(r.attempts);
  if (attempts !== undefined && attempts < 0) f.error(at(path, "attempts"), `attempts ${attempts} cannot be negative`, "use 0 to disable retries, or a positive number");
  if (attempts === 0 && (has(r, "perTryTimeout") || str(r.retryOn) || has(r, "retryRemoteLocalities"))) {
    f.error(path, "retry policy is configured while attempts is 0 (retries disabled)", "set attempts above 0, or remove the other retry fields");
  }
  if (has(r, "perTryTimeout")) checkDuration(f, at(path, "perTryTimeout"), r.perTryTimeout);
  if (has(r, "backoff")) checkDuration(f, at(path, "backoff"), r.backoff);
  const retryOn = str(r.retryOn);
  if (retryOn) {
    for (const token of retryOn.split(",")) {
      const code = /^\d{3}$/.test(token) ? Number(token) : NaN;
      if (RETRY_ON.includes(token) || (code >= 100 && code <= 599)) continue;
      const spaced = token !== token.trim() && (RETRY_ON.includes(token.trim()) || /^\d{3}$/.test(token.trim()));
      f.error(at(path, "retryOn"), `"${token}" is not a valid retryOn policy`,
        spaced ? "remove the spaces around commas" : `use a comma-separated list of HTTP status codes and ${RETRY_ON.join(", ")}`);
    }
  }
}

function checkFault(f: Findings, path: string, fault: Obj | undefined): void {
  if (!fault) return;
  const abort = obj(fault.abort);
  const delay = obj(fault.delay);
  if (!abort && !delay) f.error(path, "fault injection must have an abort and/or a delay", "add fault.abort or fault.delay");
  if (abort) {
    checkPercent(f, at(path, "abort", "percentage"), abort.percentage, "abort percentage");
    const status = num(abort.httpStatus);
    if (status !== undefined && (status < 200 || status > 599)) f.error(at(path, "abort", "httpStatus"), `abort httpStatus ${status} is not in the range 200..599`, "use an HTTP status code such as 503");
    const grpc = str(abort.grpcStatus);
    if (grpc !== undefined && !GRPC_STATUS.includes(grpc)) f.error(at(path, "abort", "grpcStatus"), `gRPC status "${grpc}" is not supported`, `use a gRPC status name such as UNAVAILABLE (${GRPC_STATUS.join(", ")})`);
    if (has(abort, "http2Error")) f.error(at(path, "abort", "http2Error"), "HTTP/2 error abort injection is not supported", "use httpStatus or grpcStatus");
    if (!has(abort, "httpStatus") && !has(abort, "grpcStatus") && !has(abort, "http2Error")) f.warn(at(path, "abort"), "abort is configured without an error type", "set httpStatus or grpcStatus");
  }
  if (delay) {
    checkPercent(f, at(path, "delay", "percentage"), delay.percentage, "delay percentage");
    if (has(delay, "percent")) {
      f.warn(at(path, "delay", "percent"), "delay.percent is deprecated", "use delay.percentage.value");
      const p = num(delay.percent);
      if (p !== undefined && (p < 0 || p > 100)) f.error(at(path, "delay", "percent"), `delay percent ${p} must be between 0 and 100`, "use a percentage from 0 to 100");
    }
    if (has(delay, "fixedDelay")) checkDuration(f, at(path, "delay", "fixedDelay"), delay.fixedDelay);
    if (has(delay, "exponentialDelay")) f.error(at(path, "delay", "exponentialDelay"), "exponentialDelay is not supported", "use fixedDelay");
    if (!has(delay, "fixedDelay") && !has(delay, "exponentialDelay")) f.error(at(path, "delay"), "delay needs fixedDelay", 'add fixedDelay, e.g. "5s"');
  }
}

function checkRedirect(f: Findings, path: string, r: Obj | undefined): void {
  if (!r) return;
  if (!str(r.uri) && !str(r.authority) && !str(r.scheme) && !has(r, "port") && !has(r, "derivePort")) {
    f.error(path, "redirect must specify uri, authority, scheme or port", "add at least one of them");
  }
  const code = num(r.redirectCode);
  if (code !== undefined && code !== 0 && (code < 300 || code > 399)) f.error(at(path, "redirectCode"), `redirectCode ${code} is not a 3xx status`, "use 301, 302, 303, 307 or 308");
  const scheme = str(r.scheme);
  if (scheme !== undefined && scheme !== "" && scheme !== "http" && scheme !== "https") f.error(at(path, "scheme"), `redirect scheme "${scheme}" is not http or https`, 'use "http" or "https"');
  if (num(r.port) !== undefined && r.port !== 0) checkPort(f, at(path, "port"), r.port);
}

function checkDirectResponse(f: Findings, path: string, d: Obj | undefined): void {
  if (!d) return;
  const status = num(d.status);
  if (status !== undefined && (status < 200 || status > 599)) f.error(at(path, "status"), `directResponse status ${status} is not in the range 200..599`, "use an HTTP status code such as 200 or 503");
  const body = obj(d.body);
  const text = str(body?.string) ?? str(body?.bytes) ?? "";
  if (text.length > 1024 * 1024) f.error(at(path, "body"), "directResponse body is larger than 1MB", "serve large bodies from a workload");
  else if (text.length > 100 * 1024) f.warn(at(path, "body"), "large directResponse bodies may slow the control plane", "keep direct responses small");
}

function checkRewrite(f: Findings, path: string, r: Obj | undefined): void {
  if (!r) return;
  const regexRewrite = obj(r.uriRegexRewrite);
  if (str(r.uri) && regexRewrite) f.error(path, "rewrite may only contain one of uri or uriRegexRewrite", "keep one of them");
  if (!str(r.uri) && !regexRewrite && !str(r.authority)) f.error(path, "rewrite must specify uri, uriRegexRewrite or authority", "add one, or remove rewrite");
  if (regexRewrite) {
    if (!str(regexRewrite.match) || !str(regexRewrite.rewrite)) f.error(at(path, "uriRegexRewrite"), "uriRegexRewrite requires both match and rewrite", "set both fields");
    else checkRegex(f, at(path, "uriRegexRewrite", "match"), regexRewrite.match);
  }
}

function checkMirroring(f: Findings, path: string, route: Obj): void {
  if (has(route, "mirror") && list(route.mirrors).length > 0) f.error(path, "HTTP route cannot contain both mirror and mirrors", "move mirror into mirrors");
  if (has(route, "mirror")) checkDestination(f, at(path, "mirror"), route.mirror);
  for (const key of ["mirror_percent", "mirrorPercent"]) {
    if (!has(route, key)) continue;
    f.warn(at(path, key), `${key} is deprecated`, "use mirrorPercentage.value");
    const p = num(route[key]);
    if (p !== undefined && (p < 0 || p > 100)) f.error(at(path, key), `mirror percentage ${p} must be between 0 and 100`, "use a percentage from 0 to 100");
  }
  checkPercent(f, at(path, "mirrorPercentage"), route.mirrorPercentage, "mirror percentage");
  for (const [i, raw] of list(route.mirrors).entries()) {
    const m = obj(raw);
    if (!m) continue;
    if (!obj(m.destination)) f.error(at(path, "mirrors", i, "destination"), "destination is required for mirrors", "add destination.host");
    else checkDestination(f, at(path, "mirrors", i, "destination"), m.destination);
    checkPercent(f, at(path, "mirrors", i, "percentage"), m.percentage, "mirror percentage");
  }
}

function checkCors(f: Findings, path: string, c: Obj | undefined): void {
  if (!c) return;
  if (has(c, "allowOrigin")) f.warn(at(path, "allowOrigin"), "allowOrigin is deprecated", "use allowOrigins with exact, prefix or regex matches");
  for (const [i, raw] of list(c.allowOrigins).entries()) {
    const o = obj(raw);
    if (!o) continue;
    if (!str(o.exact) && !str(o.prefix) && !str(o.regex)) f.error(at(path, "allowOrigins", i), "allowOrigins entry must have a non-empty exact, prefix or regex", 'e.g. exact: "https://example.com"');
    if (has(o, "regex")) checkRegex(f, at(path, "allowOrigins", i, "regex"), o.regex);
  }
  for (const [i, raw] of list(c.allowMethods).entries()) {
    const m = str(raw);
    if (m !== undefined && !CORS_METHODS.includes(m)) f.error(at(path, "allowMethods", i), `"${m}" is not a supported HTTP method`, `use one of ${CORS_METHODS.join(", ")} (upper case)`);
  }
  for (const field of ["allowHeaders", "exposeHeaders"]) {
    for (const [i, raw] of list(c[field]).entries()) {
      const h = str(raw);
      if (h === undefined || h === "*") continue;
      const problem = checkHeaderName(h);
      if (problem) f.error(at(path, field, i), problem, "use a valid header name or \"*\"");
    }
  }
  if (has(c, "maxAge")) {
    checkDuration(f, at(path, "maxAge"), c.maxAge);
    const text = str(c.maxAge) ?? "";
    if (/^\d+(\.\d+)?(ms|us|µs|ns)$/.test(text) || /\.\d+s$/.test(text)) f.error(at(path, "maxAge"), `maxAge "${text}" is finer than a second; CORS max age is accurate only to seconds`, 'use whole seconds, e.g. "24h" or "600s"');
  }
}
