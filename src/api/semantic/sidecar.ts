// Sidecar: ingress listeners (unique ports, defaultEndpoint form), egress listeners with
// `namespace/host` hosts, and the outbound traffic policy.
import { Findings, at } from "./findings.ts";
import { has, list, num, obj, str, type Obj } from "./read.ts";
import { checkNamespacedHost } from "./hosts.ts";
import { checkWorkloadSelector } from "./labels.ts";
import { checkPort, checkPortName, checkProtocol } from "./ports.ts";
import { checkServerTls } from "./tls.ts";
import { checkDestination } from "./destination.ts";
import { checkBind } from "./net.ts";

const DEFAULT_ENDPOINT = /^(?:127\.0\.0\.1|0\.0\.0\.0|\[::1\]|\[::\]):(\d+)$/;

export function checkSidecar(f: Findings, spec: Obj): void {
  checkWorkloadSelector(f, "spec.workloadSelector", spec.workloadSelector, "labels");
  const ingressPorts = new Map<number, string>();
  for (const [i, raw] of list(spec.ingress).entries()) {
    const l = obj(raw);
    if (!l) continue;
    const p = at("spec.ingress", i);
    const port = obj(l.port);
    if (!port) f.error(at(p, "port"), "ingress listener needs a port", "add port with number, protocol and name");
    else {
      checkListenerPort(f, at(p, "port"), port);
      const n = num(port.number);
      if (n !== undefined) {
        const first = ingressPorts.get(n);
        if (first) f.error(at(p, "port", "number"), `ingress port ${n} is already used by ${first}`, "use each ingress port once");
        else ingressPorts.set(n, p);
      }
    }
    const ep = str(l.defaultEndpoint);
    if (ep !== undefined && ep !== "" && !ep.startsWith("unix://")) {
      const m = DEFAULT_ENDPOINT.exec(ep);
      if (!m) f.error(at(p, "defaultEndpoint"), `defaultEndpoint "${ep}" must be 127.0.0.1:PORT, 0.0.0.0:PORT, [::1]:PORT or unix://PATH`, 'e.g. "127.0.0.1:8080"');
      else checkPort(f, at(p, "defaultEndpoint"), Number(m[1]));
    }
    if (has(l, "tls")) checkServerTls(f, at(p, "tls"), l.tls, { gateway: false });
    checkListenerBind(f, p, l);
  }

  const egress = list(spec.egress);
  const egressPorts = new Map<string, string>();
  for (const [i, raw] of egress.entries()) {
    const l = obj(raw);
    if (!l) continue;
    const p = at("spec.egress", i);
    const port = obj(l.port);
    if (port) {
      checkListenerPort(f, at(p, "port"), port);
      const n = num(port.number);
      // Two egress listeners on the same bind address and port would be one listener.
      const key = `${str(l.bind) ?? ""}:${n}`;
      const first = egressPorts.get(key);
      if (n !== undefined && first) f.error(at(p, "port", "number"), `egress port ${n}${str(l.bind) ? ` on ${str(l.bind)}` : ""} is already used by ${first}`, "merge the hosts into one listener, or use another port or bind");
      else if (n !== undefined) egressPorts.set(key, p);
    }
    else if (i !== egress.length - 1) f.error(p, "only the last egress listener may omit the port", "give this listener a port, or move it to the end");
    checkListenerBind(f, p, l);
    const hosts = list(l.hosts);
    if (hosts.length === 0) f.error(at(p, "hosts"), "egress listener must have at least one host", 'add hosts, e.g. "./*" or "istio-system/*"');
    for (const [j, h] of hosts.entries()) {
      const host = str(h);
      if (host === undefined) continue;
      const problem = checkNamespacedHost(host, "sidecar");
      if (problem) f.error(at(p, "hosts", j), problem, 'use "namespace/host", e.g. "./*", "istio-system/*" or "*/api.example.com"');
    }
  }

  const otp = obj(spec.outboundTrafficPolicy);
  if (otp && has(otp, "egressProxy")) {
    if (str(otp.mode) !== "ALLOW_ANY") f.error("spec.outboundTrafficPolicy.egressProxy", "egressProxy requires mode ALLOW_ANY", "set outboundTrafficPolicy.mode: ALLOW_ANY");
    checkDestination(f, "spec.outboundTrafficPolicy.egressProxy", otp.egressProxy);
  }
}

function checkListenerBind(f: Findings, path: string, listener: Obj): void {
  const bind = str(listener.bind);
  if (!bind) return;
  const problem = checkBind(bind);
  if (problem) f.error(at(path, "bind"), problem, 'use an IP address such as "127.0.0.1", or "unix:///path/to/socket"');
}

function checkListenerPort(f: Findings, path: string, port: Obj): void {
  checkPort(f, at(path, "number"), port.number);
  if (num(port.targetPort) !== undefined && port.targetPort !== 0) checkPort(f, at(path, "targetPort"), port.targetPort);
  checkProtocol(f, at(path, "protocol"), port.protocol);
  checkPortName(f, at(path, "name"), port.name);
}
