// Kubernetes Namespace and Service, checked as the API server would for what Skiff uses:
// names, ports (numbers, names, uniqueness) and selectors.
import { Findings, at } from "./findings.ts";
import { list, num, obj, str, type Obj } from "./read.ts";
import { checkLabels } from "./labels.ts";
import { checkPort, checkPortName, checkUnique, isPortNumber } from "./ports.ts";
import { checkFqdn } from "./hosts.ts";

const IANA_SVC_NAME = /^(?=.*[a-z])[a-z0-9](?:-?[a-z0-9])*$/;

export function checkService(f: Findings, spec: Obj): void {
  checkLabels(f, "spec.selector", spec.selector, { selector: true });
  const ports = list(spec.ports);
  const type = str(spec.type) ?? "ClusterIP";
  if (type === "ExternalName") {
    const name = str(spec.externalName);
    if (!name) f.error("spec.externalName", "a Service of type ExternalName needs externalName", "set externalName to a DNS name");
    else if (checkFqdn(name)) f.error("spec.externalName", `externalName "${name}" is not a valid DNS name`, "use a DNS name, e.g. db.example.com");
  } else if (ports.length === 0) {
    f.error("spec.ports", "a Service needs at least one port", "add a port with port (and targetPort)");
  }
  const names: { path: string; value: string | undefined }[] = [];
  const numbers: { path: string; value: string | undefined }[] = [];
  for (const [i, raw] of ports.entries()) {
    const port = obj(raw);
    if (!port) continue;
    const p = at("spec.ports", i);
    checkPort(f, at(p, "port"), port.port);
    const name = str(port.name);
    if (ports.length > 1 && !name) f.error(at(p, "name"), "ports must be named when a Service has more than one port", 'name each port, e.g. "http" or "grpc"');
    checkPortName(f, at(p, "name"), port.name);
    names.push({ path: at(p, "name"), value: name });
    numbers.push({ path: at(p, "port"), value: num(port.port) === undefined ? undefined : `${num(port.port)}/${str(port.protocol) ?? "TCP"}` });
    const target = port.targetPort;
    if (typeof target === "number" && !isPortNumber(target)) f.error(at(p, "targetPort"), `targetPort ${target} must be in the range 1..65535`, "use the container's port number or port name");
    if (typeof target === "string" && !/^\d+$/.test(target) && (target.length > 15 || !IANA_SVC_NAME.test(target))) {
      f.error(at(p, "targetPort"), `targetPort "${target}" is not a valid port name`, "use a port name of at most 15 lower-case letters, digits and \"-\", or a number");
    }
  }
  checkUnique(f, names, "port name", "give each port a unique name");
  checkUnique(f, numbers, "port", "list each port and protocol once");
}

export function checkNamespace(_f: Findings, _spec: Obj): void {
  // A Namespace has nothing beyond its name, which the metadata check covers.
}
