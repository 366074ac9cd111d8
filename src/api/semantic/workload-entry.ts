// WorkloadEntry (one non-Kubernetes workload) and WorkloadGroup (a template for them).
import { Findings, at } from "./findings.ts";
import { has, list, num, obj, str, stringMap, type Obj } from "./read.ts";
import { checkFqdn, isIpAddress } from "./hosts.ts";
import { checkLabels } from "./labels.ts";
import { checkPort, checkPortName } from "./ports.ts";

export interface EntryOptions {
  /** Port names the owning ServiceEntry defines (endpoint ports must be among them). */
  servicePorts?: Set<string>;
  /** Whether a DNS name is allowed as the address (not for STATIC ServiceEntries). */
  allowFqdn: boolean;
}

export function checkWorkloadEntryFields(f: Findings, path: string, we: Obj, opts: EntryOptions): void {
  const address = str(we.address) ?? "";
  if (address === "") {
    if (!str(we.network)) f.error(at(path, "address"), "address is required", "set the workload's IP address or DNS name");
  } else if (address.startsWith("unix://")) {
    if (address.length === "unix://".length) f.error(at(path, "address"), "unix address needs a socket path", 'e.g. "unix:///var/run/app.sock"');
    if (Object.keys(obj(we.ports) ?? {}).length > 0) f.error(at(path, "ports"), `unix endpoint ${address} must not include ports`, "remove ports");
  } else if (!isIpAddress(address)) {
    if (!opts.allowFqdn) f.error(at(path, "address"), `address "${address}" is not a valid IP address`, "use an IP address (STATIC resolution), or resolution DNS for host names");
    else if (checkFqdn(address)) f.error(at(path, "address"), `address "${address}" is not a valid IP address or DNS name`, "use an IP address or a DNS name");
  }
  for (const [name, port] of stringMap(we.ports)) {
    const p = at(path, "ports", name);
    if (opts.servicePorts && !opts.servicePorts.has(name)) f.error(p, `endpoint port "${name}" is not defined by the service entry`, `use one of the ServiceEntry's port names (${[...opts.servicePorts].join(", ")})`);
    checkPortName(f, p, name);
    checkPort(f, p, port);
  }
  checkLabels(f, at(path, "labels"), we.labels);
  const weight = num(we.weight);
  if (weight !== undefined && weight < 0) f.error(at(path, "weight"), `weight ${weight} must not be negative`, "use a positive weight");
}

export function checkWorkloadEntry(f: Findings, spec: Obj): void {
  checkWorkloadEntryFields(f, "spec", spec, { allowFqdn: true });
}

export function checkWorkloadGroup(f: Findings, spec: Obj): void {
  if (!obj(spec.template)) f.error("spec.template", "template is required", "add template with the workloads' ports, labels and serviceAccount");
  else {
    // Address is filled in when a workload joins, so the template is checked without it.
    const template = obj(spec.template) ?? {};
    for (const [name, port] of stringMap(template.ports)) {
      checkPortName(f, at("spec.template.ports", name), name);
      checkPort(f, at("spec.template.ports", name), port);
    }
    checkLabels(f, "spec.template.labels", template.labels);
  }
  checkLabels(f, "spec.metadata.labels", obj(spec.metadata)?.labels);
  const probe = obj(spec.probe);
  if (probe) {
    for (const field of ["periodSeconds", "initialDelaySeconds", "timeoutSeconds", "successThreshold", "failureThreshold"]) {
      const v = num(probe[field]);
      if (v !== undefined && v < 0) f.error(at("spec.probe", field), `${field} must not be negative`, "use 0 or a positive number");
    }
    const methods = ["httpGet", "tcpSocket", "exec"].filter((m) => has(probe, m));
    if (methods.length !== 1) f.error("spec.probe", `probe needs exactly one of httpGet, tcpSocket or exec (it has ${methods.length})`, "keep one health check method");
    const http = obj(probe.httpGet);
    if (http) {
      checkPort(f, "spec.probe.httpGet.port", http.port);
      const scheme = str(http.scheme);
      if (scheme && scheme !== "HTTP" && scheme !== "HTTPS") f.error("spec.probe.httpGet.scheme", `scheme "${scheme}" must be HTTP or HTTPS`, "use HTTP or HTTPS");
    }
    const tcp = obj(probe.tcpSocket);
    if (tcp) checkPort(f, "spec.probe.tcpSocket.port", tcp.port);
    const exec = obj(probe.exec);
    if (exec && list(exec.command).length === 0) f.error("spec.probe.exec.command", "exec.command is required", "give the command to run");
  }
}
