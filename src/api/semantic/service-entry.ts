// ServiceEntry: hosts, addresses, ports and endpoints, and what each resolution mode requires.
import { Findings, at } from "./findings.ts";
import { has, list, num, obj, str, type Obj } from "./read.ts";
import { checkExportTo } from "./common.ts";
import { checkFqdn, checkWildcardHost, isPartialWildcard } from "./hosts.ts";
import { checkIpOrCidr } from "./net.ts";
import { checkWorkloadSelector } from "./labels.ts";
import { checkPort, checkPortName, checkProtocol, checkUnique } from "./ports.ts";
import { checkWorkloadEntryFields } from "./workload-entry.ts";

export function checkServiceEntry(f: Findings, spec: Obj): void {
  checkWorkloadSelector(f, "spec.workloadSelector", spec.workloadSelector, "labels");
  if (has(spec, "workloadSelector") && has(spec, "endpoints")) f.error("spec", "only one of workloadSelector or endpoints is allowed", "keep one way of choosing endpoints");

  const hosts = list(spec.hosts).map(str);
  if (hosts.length === 0) f.error("spec.hosts", "service entry must have at least one host", 'add a host, e.g. "api.example.com"');
  for (const [i, host] of hosts.entries()) {
    if (host === undefined) continue;
    if (host === "*") {
      f.error(at("spec.hosts", i), 'host "*" is not allowed in a service entry', 'name the hosts, e.g. "*.example.com"');
      continue;
    }
    const problem = checkWildcardHost(host);
    if (problem) f.error(at("spec.hosts", i), problem, 'use a DNS name, e.g. "api.example.com" or "*.example.com"');
    else if (isPartialWildcard(host)) f.warn(at("spec.hosts", i), `host "${host}" is a partial wildcard`, `did you mean "*.${host.slice(1).replace(/^\./, "")}"?`);
  }

  let cidr = false;
  for (const [i, raw] of list(spec.addresses).entries()) {
    const a = str(raw);
    if (a === undefined) continue;
    cidr ||= a.includes("/");
    const problem = checkIpOrCidr(a);
    if (problem) f.error(at("spec.addresses", i), problem, "use an IP address or CIDR block");
  }
  const resolution = str(spec.resolution) ?? "NONE";
  if (cidr && resolution !== "NONE" && resolution !== "STATIC") f.error("spec.addresses", "CIDR addresses are allowed only with resolution NONE or STATIC", "use single IP addresses, or resolution NONE/STATIC");

  const portNames: { path: string; value: string | undefined }[] = [];
  const portNumbers: { path: string; value: number | undefined }[] = [];
  for (const [i, raw] of list(spec.ports).entries()) {
    const port = obj(raw);
    if (!port) continue;
    const p = at("spec.ports", i);
    checkPort(f, at(p, "number"), port.number);
    if (num(port.targetPort) !== undefined && port.targetPort !== 0) checkPort(f, at(p, "targetPort"), port.targetPort);
    checkPortName(f, at(p, "name"), port.name, { required: true });
    checkProtocol(f, at(p, "protocol"), port.protocol);
    portNames.push({ path: at(p, "name"), value: str(port.name) });
    portNumbers.push({ path: at(p, "number"), value: num(port.number) });
  }
  checkUnique(f, portNames, "port name", "give each port a unique name");
  checkUnique(f, portNumbers, "port number", "list each port number once");
  const servicePorts = new Set(portNames.map((p) => p.value).filter((v): v is string => Boolean(v)));

  const endpoints = list(spec.endpoints);
  if (resolution === "NONE" && endpoints.length > 0) f.error("spec.endpoints", "no endpoints should be given for resolution NONE", "use resolution STATIC or DNS, or remove endpoints");
  if ((resolution === "DNS" || resolution === "DNS_ROUND_ROBIN") && endpoints.length === 0) {
    for (const [i, host] of hosts.entries()) {
      if (host !== undefined && checkFqdn(host) !== undefined) f.error(at("spec.hosts", i), `hosts must be fully qualified (no wildcards) when resolution is ${resolution} without endpoints`, "name the exact host, or add endpoints");
    }
  }
  if (resolution === "DNS_ROUND_ROBIN" && endpoints.length > 1) f.error("spec.endpoints", "resolution DNS_ROUND_ROBIN allows at most one endpoint", "use resolution DNS for several endpoints");
  if (resolution === "STATIC" && endpoints.length === 0 && !has(spec, "workloadSelector")) f.warn("spec.endpoints", "resolution STATIC without endpoints or workloadSelector has no endpoints", "add endpoints with addresses");
  for (const [i, raw] of endpoints.entries()) {
    const e = obj(raw);
    if (!e) continue;
    checkWorkloadEntryFields(f, at("spec.endpoints", i), e, { servicePorts, allowFqdn: resolution !== "STATIC" });
  }
  checkExportTo(f, "spec.exportTo", spec.exportTo);
}
