// Gateway: servers with ports, hosts in `namespace/host` form, and TLS that matches the protocol.
import { Findings, at } from "./findings.ts";
import { list, obj, str } from "./read.ts";
import { checkNamespacedHost } from "./hosts.ts";
import { checkPort, checkProtocol, checkUnique } from "./ports.ts";
import { checkLabels } from "./labels.ts";
import { checkServerTls } from "./tls.ts";
import { checkBind } from "./net.ts";
import type { Obj } from "./read.ts";

const TLS_PROTOCOLS = ["HTTPS", "TLS"];
// Plain-text HTTP protocols: TLS settings on them would be silently meaningless.
const PLAIN_HTTP_PROTOCOLS = ["HTTP", "HTTP2", "GRPC", "GRPC-WEB"];

export function checkGateway(f: Findings, spec: Obj): void {
  checkLabels(f, "spec.selector", spec.selector, { selector: true });
  const servers = list(spec.servers);
  if (servers.length === 0) {
    f.error("spec.servers", "gateway must have at least one server", "add a server with a port and hosts");
    return;
  }
  const portNames: { path: string; value: string | undefined }[] = [];
  const serverNames: { path: string; value: string | undefined }[] = [];
  for (const [i, raw] of servers.entries()) {
    const server = obj(raw);
    if (!server) continue;
    const path = at("spec.servers", i);
    const port = obj(server.port);
    if (port) {
      checkPort(f, at(path, "port", "number"), port.number);
      checkPort(f, at(path, "port", "targetPort"), port.targetPort);
      checkProtocol(f, at(path, "port", "protocol"), port.protocol);
      portNames.push({ path: at(path, "port", "name"), value: str(port.name) });
    }
    serverNames.push({ path: at(path, "name"), value: str(server.name) });
    const bind = str(server.bind);
    if (bind) {
      const problem = checkBind(bind);
      if (problem) f.error(at(path, "bind"), problem, 'use an IP address such as "0.0.0.0", or "unix:///path/to/socket"');
    }

    const hosts = list(server.hosts);
    if (hosts.length === 0) f.error(at(path, "hosts"), "server must have at least one host", 'add a host, e.g. "*" or "bookinfo.example.com"');
    for (const [j, h] of hosts.entries()) {
      const host = str(h);
      if (host === undefined) continue;
      const problem = checkNamespacedHost(host, "gateway");
      if (problem) f.error(at(path, "hosts", j), problem, 'use "host", "*.example.com" or "namespace/host"');
    }

    const protocol = (str(port?.protocol) ?? "").toUpperCase();
    const tls = obj(server.tls);
    if (TLS_PROTOCOLS.includes(protocol) && !tls) {
      f.error(at(path, "tls"), `server with protocol ${protocol} must have TLS settings`, "add tls with a mode (e.g. SIMPLE with credentialName)");
    }
    if (tls && PLAIN_HTTP_PROTOCOLS.includes(protocol)) {
      const onlyRedirect = Object.keys(tls).every((k) => k === "httpsRedirect");
      if (!onlyRedirect) f.error(at(path, "tls"), `server with protocol ${protocol} cannot have TLS settings other than httpsRedirect`, "use protocol HTTPS or TLS, or remove tls");
    }
    if (tls?.httpsRedirect === true && protocol !== "" && protocol !== "HTTP") f.warn(at(path, "tls", "httpsRedirect"), "httpsRedirect only has an effect on HTTP servers", "remove httpsRedirect");
    if (tls) checkServerTls(f, at(path, "tls"), tls, { gateway: true });
  }
  checkUnique(f, portNames, "port name", "give each server's port a unique name");
  checkUnique(f, serverNames, "server name", "give each server a unique name");
}
