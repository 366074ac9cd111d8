// VirtualService: hosts (and the `*` rules that depend on where it is bound), gateway
// references, HTTP/TLS/TCP routes, and the delegate form (no hosts).
import { Findings, at } from "./findings.ts";
import { list, num, obj, str, type Obj } from "./read.ts";
import { checkExportTo } from "./common.ts";
import { checkWildcardHost, hostMatches, isIpAddress } from "./hosts.ts";
import { checkGatewayNames } from "./gateway-names.ts";
import { checkHttpRoute } from "./http-route.ts";
import { checkRouteDestinations } from "./destination.ts";
import { checkIpOrCidr } from "./net.ts";
import { checkLabels } from "./labels.ts";
import { checkPort } from "./ports.ts";

export function checkVirtualService(f: Findings, spec: Obj): void {
  const hosts = list(spec.hosts).map(str);
  const gateways = list(spec.gateways).map(str);
  const delegate = hosts.length === 0;
  // Bound to gateways only when gateways are listed and `mesh` is not one of them.
  const gatewayOnly = gateways.length > 0 && !gateways.includes("mesh");

  if (delegate) {
    if (gateways.length > 0) f.error("spec.gateways", "a delegate VirtualService (one without hosts) must not list gateways", "add hosts, or remove gateways: the parent VirtualService chooses them");
    if (list(spec.tls).length > 0) f.error("spec.tls", "a delegate VirtualService (one without hosts) cannot have tls routes", "add hosts, or move the tls routes to the parent");
    if (list(spec.tcp).length > 0) f.error("spec.tcp", "a delegate VirtualService (one without hosts) cannot have tcp routes", "add hosts, or move the tcp routes to the parent");
  }
  checkGatewayNames(f, "spec.gateways", spec.gateways);

  let allValid = true;
  for (const [i, host] of hosts.entries()) {
    if (host === undefined) continue;
    const p = at("spec.hosts", i);
    if (host === "*") {
      if (!gatewayOnly) {
        f.error(p, 'wildcard host "*" is not allowed for a VirtualService bound to the mesh', 'bind it to a gateway (spec.gateways), or name the hosts, e.g. "*.example.com"');
        allValid = false;
      }
      continue;
    }
    const problem = checkWildcardHost(host);
    // IP addresses are accepted as hosts (Istio allows them for mesh and gateways alike).
    if (problem && !isIpAddress(host)) {
      f.error(p, problem, 'use a service name or DNS name, e.g. reviews or "*.example.com"');
      allValid = false;
    }
  }
  if (allValid) {
    for (let i = 0; i < hosts.length; i++) {
      for (let j = i + 1; j < hosts.length; j++) {
        const a = hosts[i];
        const b = hosts[j];
        if (a === undefined || b === undefined) continue;
        if (hostMatches(a, b) || hostMatches(b, a)) f.error(at("spec.hosts", j), `duplicate hosts in virtual service: "${a}" and "${b}" overlap`, "list each host once; a wildcard already covers the hosts it matches");
      }
    }
  }

  if (list(spec.http).length === 0 && list(spec.tcp).length === 0 && list(spec.tls).length === 0) {
    f.error("spec", "virtual service must have http, tcp or tls routes", "add an http route with a destination");
  }
  for (const [i, raw] of list(spec.http).entries()) {
    const route = obj(raw);
    if (route) checkHttpRoute(f, at("spec.http", i), route, { delegate, gatewayOnly });
  }
  for (const [i, raw] of list(spec.tls).entries()) checkTlsRoute(f, at("spec.tls", i), obj(raw), hosts);
  for (const [i, raw] of list(spec.tcp).entries()) checkTcpRoute(f, at("spec.tcp", i), obj(raw));
  checkExportTo(f, "spec.exportTo", spec.exportTo);
}

function checkL4Match(f: Findings, path: string, m: Obj): void {
  for (const [i, raw] of list(m.destinationSubnets).entries()) {
    const s = str(raw);
    const problem = s === undefined ? undefined : checkIpOrCidr(s);
    if (problem) f.error(at(path, "destinationSubnets", i), problem, "use an IP or CIDR, e.g. 10.0.0.0/16");
  }
  if (num(m.port) !== undefined && m.port !== 0) checkPort(f, at(path, "port"), m.port);
  checkLabels(f, at(path, "sourceLabels"), m.sourceLabels);
  checkGatewayNames(f, at(path, "gateways"), m.gateways);
}

function checkTlsRoute(f: Findings, path: string, route: Obj | undefined, hosts: (string | undefined)[]): void {
  if (!route) return;
  const matches = list(route.match);
  if (matches.length === 0) f.error(at(path, "match"), "TLS route must have at least one match", "add a match with sniHosts");
  for (const [i, raw] of matches.entries()) {
    const m = obj(raw);
    if (!m) continue;
    const mp = at(path, "match", i);
    const sniHosts = list(m.sniHosts);
    if (sniHosts.length === 0) f.error(at(mp, "sniHosts"), "TLS match must have at least one SNI host", "add sniHosts");
    for (const [j, h] of sniHosts.entries()) {
      const sni = str(h);
      if (sni === undefined) continue;
      const sp = at(mp, "sniHosts", j);
      const problem = checkWildcardHost(sni);
      if (problem) {
        if (isIpAddress(sni)) f.warn(sp, `SNI host "${sni}" is an IP address; SNI carries DNS names and most clients do not send IPs`, "use the DNS name");
        else f.error(sp, problem, "use a DNS name");
        continue;
      }
      if (!hosts.some((h2) => h2 !== undefined && hostMatches(h2, sni))) {
        f.error(sp, `SNI host "${sni}" is not covered by any of the virtual service hosts [${hosts.join(", ")}]`, "use a host listed in spec.hosts, or add it there");
      }
    }
    checkL4Match(f, mp, m);
  }
  if (list(route.route).length === 0) f.error(at(path, "route"), "TLS route needs at least one destination", "add route with a destination");
  checkRouteDestinations(f, at(path, "route"), route.route);
}

function checkTcpRoute(f: Findings, path: string, route: Obj | undefined): void {
  if (!route) return;
  for (const [i, raw] of list(route.match).entries()) {
    const m = obj(raw);
    if (m) checkL4Match(f, at(path, "match", i), m);
  }
  if (list(route.route).length === 0) f.error(at(path, "route"), "TCP route needs at least one destination", "add route with a destination");
  checkRouteDestinations(f, at(path, "route"), route.route);
}
