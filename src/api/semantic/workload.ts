// Skiff's Workload (skiff.dev/v1alpha1): how `skiff up` starts local processes.
import { Findings, at } from "./findings.ts";
import { has, list, num, obj, str, type Obj } from "./read.ts";
import { checkLabels } from "./labels.ts";
import { checkPortName, checkUnique, isPortNumber } from "./ports.ts";
import { isDnsSubdomain } from "./hosts.ts";

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function checkWorkload(f: Findings, spec: Obj): void {
  const command = list(spec.command);
  if (Array.isArray(spec.command) && command.length === 0) f.error("spec.command", "command must not be empty", 'give the program and its arguments, e.g. ["node", "server.js"]');
  for (const [i, c] of command.entries()) if (str(c) === "") f.error(at("spec.command", i), "command entries must not be empty", "remove the empty entry");
  const replicas = num(spec.replicas);
  if (replicas !== undefined && (!Number.isInteger(replicas) || replicas < 0)) f.error("spec.replicas", `replicas ${replicas} must be a whole number of at least 0`, "use 0 to stop the workload, or a positive count");

  const names: { path: string; value: string | undefined }[] = [];
  const numbers: { path: string; value: number | undefined }[] = [];
  for (const [i, raw] of list(spec.ports).entries()) {
    const port = obj(raw);
    if (!port) continue;
    const p = at("spec.ports", i);
    const n = num(port.containerPort);
    // 0 asks the runtime to assign a free port.
    if (n !== undefined && n !== 0 && !isPortNumber(n)) f.error(at(p, "containerPort"), `containerPort ${n} must be in the range 1..65535 (or 0 to have one assigned)`, "use a port between 1 and 65535, or 0");
    checkPortName(f, at(p, "name"), port.name);
    names.push({ path: at(p, "name"), value: str(port.name) });
    numbers.push({ path: at(p, "containerPort"), value: n === 0 ? undefined : n });
  }
  checkUnique(f, names, "port name", "give each port a unique name");
  checkUnique(f, numbers, "containerPort", "use each port once");

  checkLabels(f, "spec.labels", spec.labels);
  const sa = str(spec.serviceAccount);
  if (sa !== undefined && sa !== "" && !isDnsSubdomain(sa)) f.error("spec.serviceAccount", `serviceAccount "${sa}" is not a valid name`, 'use lower-case letters, digits, "-" and "."');

  if (Array.isArray(spec.env)) {
    for (const [i, raw] of spec.env.entries()) {
      const name = str(obj(raw)?.name);
      if (name !== undefined && !ENV_NAME.test(name)) f.error(at("spec.env", i, "name"), `environment variable name "${name}" is invalid`, "use letters, digits and _, not starting with a digit");
    }
  } else {
    for (const name of Object.keys(obj(spec.env) ?? {})) {
      if (!ENV_NAME.test(name)) f.error(at("spec.env", name), `environment variable name "${name}" is invalid`, "use letters, digits and _, not starting with a digit");
    }
  }

  const probe = obj(spec.readinessProbe);
  if (probe) {
    const methods = ["httpGet", "tcpSocket", "exec"].filter((m) => has(probe, m));
    if (methods.length !== 1) f.error("spec.readinessProbe", `readinessProbe needs exactly one of httpGet, tcpSocket or exec (it has ${methods.length})`, "keep one check");
    const portNames = new Set(names.map((x) => x.value).filter(Boolean));
    for (const m of ["httpGet", "tcpSocket"]) {
      const port = obj(probe[m])?.port;
      const p = at("spec.readinessProbe", m, "port");
      if (typeof port === "number" && !isPortNumber(port)) f.error(p, `probe port ${port} must be in the range 1..65535`, "use the workload's port");
      if (typeof port === "string" && !portNames.has(port)) f.error(p, `probe port "${port}" is not the name of one of the workload's ports`, "use a name from spec.ports, or a number");
    }
    for (const field of ["initialDelaySeconds", "periodSeconds", "timeoutSeconds", "failureThreshold", "successThreshold"]) {
      const v = num(probe[field]);
      if (v !== undefined && v < 0) f.error(at("spec.readinessProbe", field), `${field} must not be negative`, "use 0 or a positive number");
    }
  }
}
