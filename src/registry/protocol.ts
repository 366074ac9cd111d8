// Protocol selection, as Istio does it (pkg/config/protocol and pkg/config/kube):
// a Kubernetes port's protocol comes from its `appProtocol` when set, else from its
// name's prefix before the first `-` (`http-web` → HTTP; `grpc-web` is whole); a
// ServiceEntry port says its protocol outright. Anything unrecognised is
// "Unsupported", which tells the proxy to sniff HTTP vs TCP — except on a few
// well-known server-first ports where sniffing would stall the client.
import type { Protocol } from "./types.ts";

/** Istio's protocol names (case-insensitive). */
const PROTOCOL_NAMES: Readonly<Record<string, Protocol>> = {
  tcp: "TCP",
  udp: "UDP",
  grpc: "GRPC",
  "grpc-web": "GRPC-Web",
  http: "HTTP",
  // Istio's HTTP_PROXY (sidecar egress listeners only) is HTTP on the wire; Skiff has no
  // separate value for it.
  http_proxy: "HTTP",
  http2: "HTTP2",
  https: "HTTPS",
  tls: "TLS",
  mongo: "Mongo",
  redis: "Redis",
  mysql: "MySQL",
};

/** Kubernetes' standard appProtocol values (only meaningful as appProtocol, never as a name). */
const KUBERNETES_APP_PROTOCOLS: Readonly<Record<string, Protocol>> = {
  "kubernetes.io/h2c": "HTTP2",
  "kubernetes.io/ws": "HTTP",
  "kubernetes.io/wss": "HTTPS",
};

/** Server-first protocols on their usual ports: SMTP, DNS, MySQL, MongoDB. Never sniffed. */
const WELL_KNOWN_TCP_PORTS: ReadonlySet<number> = new Set([25, 53, 3306, 27017]);

/** A protocol name as Istio parses it: exact (case-insensitive), else Unsupported. */
export function parseProtocol(name: string | undefined): Protocol {
  return PROTOCOL_NAMES[(name ?? "").toLowerCase()] ?? "Unsupported";
}

export interface KubePortLike {
  port: number;
  name?: string;
  /** The transport, `TCP` (default), `UDP` or `SCTP`. */
  protocol?: string;
  appProtocol?: string;
}

/** The protocol of a Kubernetes Service port (or any port named the Kubernetes way). */
export function selectKubeProtocol(p: KubePortLike): Protocol {
  if ((p.protocol ?? "TCP").toUpperCase() === "UDP") return "UDP";
  let name = p.name ?? "";
  if (p.appProtocol !== undefined && p.appProtocol !== "") {
    const standard = KUBERNETES_APP_PROTOCOLS[p.appProtocol];
    if (standard) return standard;
    name = p.appProtocol;
  }
  let selected: Protocol;
  // `grpc-web` contains the separator itself, so it is matched before splitting.
  if (name.toLowerCase().startsWith("grpc-web")) selected = "GRPC-Web";
  else {
    const dash = name.indexOf("-");
    selected = parseProtocol(dash >= 0 ? name.slice(0, dash) : name);
    // A TCP port named `udp-...` is still TCP: the name cannot change the transport.
    if (selected === "UDP") selected = "TCP";
  }
  if (selected === "Unsupported" && WELL_KNOWN_TCP_PORTS.has(p.port)) return "TCP";
  return selected;
}

/** The protocol of a ServiceEntry (or Gateway, Sidecar) port: its `protocol` field, exactly. */
export function selectServiceEntryProtocol(protocol: string | undefined): Protocol {
  return parseProtocol(protocol);
}
