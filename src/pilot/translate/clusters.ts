// Envoy clusters (CDS) for one proxy: an outbound cluster per visible service port and
// per DestinationRule subset, the inbound clusters to the proxy's own app, and Istio's
// special clusters (BlackHole, Passthrough, InboundPassthrough). The cluster type
// follows the service's resolution; DestinationRule policy is applied by policy.ts.
import type { ClientTLSSettings, TrafficPolicy } from "../../api/kinds.ts";
import type { MeshService, ServicePort } from "../../registry/types.ts";
import type { ProxyView } from "./context.ts";
import { clusterName } from "./context.ts";
import { clusterEndpoints, loadAssignment } from "./endpoints.ts";
import { SpecialCluster, adsConfigSource, byName, socketAddress, typed } from "./envoy-json.ts";
import {
  DEFAULT_CONNECT_TIMEOUT,
  HTTP_PROTOCOL_OPTIONS_KEY,
  applyTrafficPolicy,
  defaultThresholds,
  effectivePolicy,
} from "./policy.ts";
import type { EnvoyJson } from "./types.ts";

/** How often DNS clusters re-resolve (Istio's meshConfig.dnsRefreshRate default). */
const DNS_REFRESH_RATE = "60s";

/** Node metadata keys read for inbound clusters (see docs/translation.md). */
export const APP_ADDRESS_KEY = "APP_ADDRESS";
export const APP_PORTS_KEY = "APP_PORTS";

function serviceMetadata(service: MeshService, port: number, subset: string): EnvoyJson {
  const istio: EnvoyJson = {
    services: [{ host: service.hostname, name: service.name, namespace: service.namespace }],
    default_original_port: port,
  };
  if (subset) istio.subset = subset;
  return { filter_metadata: { istio } };
}

/** The cluster type and discovery fields for a service's resolution, before policy. */
function discovery(view: ProxyView, service: MeshService, port: ServicePort, name: string, subset: string): EnvoyJson {
  switch (service.resolution) {
    case "ClientSideLB":
      return { type: "EDS", eds_cluster_config: { eds_config: adsConfigSource(), service_name: name } };
    case "Passthrough":
      return { type: "ORIGINAL_DST", lb_policy: "CLUSTER_PROVIDED" };
    case "DNSLB":
    case "DNSRoundRobinLB": {
      let endpoints = clusterEndpoints(view, service.hostname, port.port, subset);
      if (endpoints.length === 0 && !subset) {
        // A DNS ServiceEntry without endpoints resolves its own host; a wildcard host
        // cannot be resolved, so the proxy forwards to the address the app dialled.
        if (service.hostname.startsWith("*")) return { type: "ORIGINAL_DST", lb_policy: "CLUSTER_PROVIDED" };
        endpoints = [
          {
            hostname: service.hostname,
            servicePort: port.port,
            servicePortName: port.name,
            address: service.hostname,
            port: typeof port.targetPort === "number" ? port.targetPort : port.port,
            labels: {},
            namespace: service.namespace,
            serviceAccount: "",
            workloadName: service.name,
            locality: "",
            weight: 1,
            healthy: true,
            tlsMode: "disabled",
          },
        ];
      }
      // LOGICAL_DNS takes exactly one host: the first, as Istio validation allows one.
      const logical = service.resolution === "DNSRoundRobinLB";
      if (logical && endpoints.length > 1) {
        view.problems.push({
          resource: service.origin,
          message: `resolution DNS_ROUND_ROBIN uses one endpoint; only ${endpoints[0].address} is used. Use resolution DNS for several endpoints.`,
        });
        endpoints = endpoints.slice(0, 1);
      }
      return {
        type: logical ? "LOGICAL_DNS" : "STRICT_DNS",
        dns_lookup_family: "V4_ONLY",
        dns_refresh_rate: DNS_REFRESH_RATE,
        respect_dns_ttl: true,
        load_assignment: loadAssignment(name, endpoints),
      };
    }
  }
}

/** What a cluster decorator knows about the outbound cluster it is given. */
export interface OutboundClusterInfo {
  service: MeshService;
  port: ServicePort;
  /** "" for the service's default cluster. */
  subset: string;
  /** The DestinationRule traffic policy applied (port and subset merged), if any. */
  policy: TrafficPolicy | undefined;
  /**
   * The rule's TLS mode, if it set one. ISTIO_MUTUAL, and auto mTLS when this is
   * undefined, are left to the decorator (nothing is emitted for them here).
   */
  tlsMode: NonNullable<ClientTLSSettings["mode"]> | undefined;
}

/**
 * Extension points for later work, so that it need not edit this file: the security
 * work adds ISTIO_MUTUAL / auto-mTLS transport sockets (transport_socket_matches on the
 * endpoints' `tlsMode` metadata) through `decorateOutbound`.
 */
export interface ClusterOptions {
  /** Called for every outbound service cluster after policy is applied; may edit it in place. */
  decorateOutbound?: (cluster: EnvoyJson, info: OutboundClusterInfo, view: ProxyView) => void;
  /** Called for every inbound cluster; may edit it in place. */
  decorateInbound?: (cluster: EnvoyJson, port: number, view: ProxyView) => void;
}

function outboundCluster(view: ProxyView, service: MeshService, port: ServicePort, subset: string, options: ClusterOptions): EnvoyJson {
  const name = clusterName("outbound", port.port, subset, service.hostname);
  const cluster: EnvoyJson = {
    name,
    ...discovery(view, service, port, name, subset),
    connect_timeout: DEFAULT_CONNECT_TIMEOUT,
  };
  const dr = view.destinationRule(service.hostname);
  const resource = dr?.sources[0] ?? service.origin;
  const policy = effectivePolicy(dr, subset || undefined, port.port);
  applyTrafficPolicy(cluster, policy, {
    port,
    direction: "outbound",
    proxyless: view.proxy.type === "proxyless",
    report: (message) =>
      view.problems.push({ resource, message: `cluster ${name}: ${message}` }),
  });
  cluster.metadata = serviceMetadata(service, port.port, subset);
  options.decorateOutbound?.(cluster, { service, port, subset, policy, tlsMode: policy?.tls?.mode }, view);
  return cluster;
}

/**
 * `outbound|port||host` for every port of every service the proxy sees, plus
 * `outbound|port|subset|host` for each subset of the host's DestinationRule. UDP ports
 * get none (Envoy's sidecar does not proxy UDP). Proxyless gRPC clients get only EDS
 * clusters, the only kind they resolve through ADS. Sorted by name.
 */
export function buildOutboundClusters(view: ProxyView, options: ClusterOptions = {}): EnvoyJson[] {
  const clusters: EnvoyJson[] = [];
  for (const service of view.services) {
    if (view.proxy.type === "proxyless" && service.resolution !== "ClientSideLB") continue;
    const subsets = view.destinationRule(service.hostname)?.subsets ?? [];
    for (const port of service.ports) {
      if (port.protocol === "UDP") continue;
      clusters.push(outboundCluster(view, service, port, "", options));
      for (const subset of subsets) clusters.push(outboundCluster(view, service, port, subset.name, options));
    }
  }
  return clusters.sort(byName);
}

// ---------------------------------------------------------------- inbound

/**
 * Parses APP_PORTS node metadata: either an object `{ "9080": 19080 }` or the string
 * `"9080:19080,9443:19443"`, mapping a workload port to the port the app really
 * listens on (local replicas cannot all bind the same port).
 */
function appPorts(metadata: Record<string, unknown>): Map<number, number> {
  const out = new Map<number, number>();
  const raw = metadata[APP_PORTS_KEY];
  const entries: [string, unknown][] =
    typeof raw === "string"
      ? raw
          .split(",")
          .filter((s) => s.includes(":"))
          .map((s) => s.split(":", 2) as [string, string])
      : raw && typeof raw === "object"
        ? Object.entries(raw)
        : [];
  for (const [from, to] of entries) {
    const f = Number(from);
    const t = Number(to);
    if (Number.isInteger(f) && Number.isInteger(t) && t > 0 && t < 65536) out.set(f, t);
  }
  return out;
}

function inboundCluster(view: ProxyView, port: number, protocolPort: ServicePort, services: MeshService[]): EnvoyJson {
  const { address, port: appPort } = appTarget(view, port);
  const name = clusterName("inbound", port);
  const cluster: EnvoyJson = {
    name,
    type: "STATIC",
    connect_timeout: DEFAULT_CONNECT_TIMEOUT,
    load_assignment: {
      cluster_name: name,
      endpoints: [{ lb_endpoints: [{ endpoint: { address: socketAddress(address, appPort) } }] }],
    },
  };
  const pool = view.sidecar?.spec.inboundConnectionPool;
  applyTrafficPolicy(cluster, pool ? { connectionPool: pool } : undefined, {
    port: protocolPort,
    direction: "inbound",
    proxyless: false,
    report: (message) =>
      view.problems.push({
        resource: view.sidecar ? `Sidecar/${view.sidecar.metadata.namespace}/${view.sidecar.metadata.name}` : view.proxy.id,
        message: `cluster ${name}: ${message}`,
      }),
  });
  if (services.length > 0) {
    cluster.metadata = {
      filter_metadata: {
        istio: { services: services.map((s) => ({ host: s.hostname, name: s.name, namespace: s.namespace })) },
      },
    };
  }
  return cluster;
}

/**
 * `inbound|<port>||` for each port the proxy's own workload serves (the endpoint
 * ports of the registry endpoints at the proxy's IPs), to the app at APP_ADDRESS
 * (default 127.0.0.1) and the port APP_PORTS maps it to (default the same port). A
 * Sidecar resource with `ingress` listeners replaces the registry's ports, as in Istio.
 */
export function buildInboundClusters(view: ProxyView, options: ClusterOptions = {}): EnvoyJson[] {
  if (view.proxy.type !== "sidecar") return [];
  const byPort = new Map<number, { port: ServicePort; services: MeshService[] }>();
  const ingress = view.sidecar?.spec.ingress ?? [];
  if (ingress.length > 0) {
    for (const listener of ingress) {
      const n = listener.port.number;
      byPort.set(n, {
        port: { name: listener.port.name ?? `port-${n}`, port: n, protocol: protocolOf(listener.port.protocol) },
        services: [],
      });
    }
  } else {
    for (const ep of view.ownEndpoints) {
      const service = view.ctx.servicesByHost.get(ep.hostname)?.find((s) => s.namespace === ep.namespace);
      const servicePort = service?.ports.find((p) => p.port === ep.servicePort);
      // Same rule as the inbound listeners: unknown and UDP ports are not served.
      if (!service || !servicePort || servicePort.protocol === "UDP") continue;
      const seen = byPort.get(ep.port);
      const entry = seen ?? { port: { ...servicePort, port: ep.port }, services: [] };
      // One port declared with two protocols is proxied as TCP, which serves both.
      if (seen && seen.port.protocol !== servicePort.protocol) entry.port = { ...entry.port, protocol: "TCP" };
      if (!entry.services.includes(service)) entry.services.push(service);
      byPort.set(ep.port, entry);
      warnIfLoop(view, ep.address, ep.port);
    }
  }
  return [...byPort.entries()]
    .sort(([a], [b]) => a - b)
    .map(([port, { port: sp, services }]) => {
      const cluster = inboundCluster(view, port, sp, services.sort((a, b) => (a.hostname < b.hostname ? -1 : 1)));
      options.decorateInbound?.(cluster, port, view);
      return cluster;
    });
}

/**
 * Without capture (INTERCEPTION_MODE NONE) the sidecar itself listens on the workload
 * address and port; an app address and port equal to it would send inbound traffic
 * back into the sidecar forever.
 */
function warnIfLoop(view: ProxyView, address: string, port: number): void {
  if (view.proxy.metadata.INTERCEPTION_MODE !== "NONE") return;
  const { address: appAddress, port: appPort } = appTarget(view, port);
  if (appPort === port && appAddress === address) {
    view.problems.push({
      resource: `Proxy/${view.proxy.namespace}/${view.proxy.podName}`,
      message: `inbound|${port}||: the app is expected at ${address}:${port}, where this sidecar itself listens (INTERCEPTION_MODE NONE); set node metadata APP_PORTS to map ${port} to the port the app listens on`,
    });
  }
}

function appTarget(view: ProxyView, port: number): { address: string; port: number } {
  const metadata = view.proxy.metadata;
  const address = typeof metadata[APP_ADDRESS_KEY] === "string" ? (metadata[APP_ADDRESS_KEY] as string) : "127.0.0.1";
  return { address, port: appPorts(metadata).get(port) ?? port };
}

function protocolOf(name: string | undefined): ServicePort["protocol"] {
  const upper = (name ?? "").toUpperCase();
  const known: ServicePort["protocol"][] = ["HTTP", "HTTP2", "GRPC", "HTTPS", "TCP", "TLS"];
  return known.find((p) => p === upper) ?? "TCP";
}

// ---------------------------------------------------------------- special clusters

/** Drops everything: the target of REGISTRY_ONLY misses and of unknown routes. */
export function blackHoleCluster(): EnvoyJson {
  return {
    name: SpecialCluster.blackHole,
    type: "STATIC",
    connect_timeout: DEFAULT_CONNECT_TIMEOUT,
    load_assignment: { cluster_name: SpecialCluster.blackHole, endpoints: [] },
  };
}

/** Forwards to the address the app dialled (ALLOW_ANY), keeping the client's HTTP version. */
export function passthroughCluster(): EnvoyJson {
  return {
    name: SpecialCluster.passthrough,
    type: "ORIGINAL_DST",
    connect_timeout: DEFAULT_CONNECT_TIMEOUT,
    lb_policy: "CLUSTER_PROVIDED",
    circuit_breakers: { thresholds: [defaultThresholds()] },
    typed_extension_protocol_options: {
      [HTTP_PROTOCOL_OPTIONS_KEY]: typed(`type.googleapis.com/${HTTP_PROTOCOL_OPTIONS_KEY}`, {
        use_downstream_protocol_config: { http_protocol_options: {}, http2_protocol_options: {} },
      }),
    },
  };
}

/**
 * The source address of inbound passthrough connections under capture. The original
 * destination is the workload's own address, and the sidecar's connection to it would
 * be captured again (the proxy calling its own pod is sent to 15006): a loop. The
 * capture rules let traffic from this address on `lo` go straight to the app, as
 * Istio's do (src/agent/capture.ts, INBOUND_PASSTHROUGH_SOURCE).
 */
export const INBOUND_PASSTHROUGH_BIND_ADDRESS = "127.0.0.6";

/**
 * Inbound traffic to ports no service declares goes to its original destination.
 * Under capture its connections leave from 127.0.0.6 (above). Without capture
 * (INTERCEPTION_MODE NONE, process mode) nothing would loop, and 127.0.0.6 is not a
 * local address on every OS (macOS has only 127.0.0.1), so no bind config is set.
 */
export function inboundPassthroughCluster(captured = false): EnvoyJson {
  return {
    name: SpecialCluster.inboundPassthrough,
    type: "ORIGINAL_DST",
    connect_timeout: DEFAULT_CONNECT_TIMEOUT,
    lb_policy: "CLUSTER_PROVIDED",
    circuit_breakers: { thresholds: [defaultThresholds()] },
    ...(captured ? { upstream_bind_config: { source_address: { address: INBOUND_PASSTHROUGH_BIND_ADDRESS, port_value: 0 } } } : {}),
  };
}

/** Special clusters by proxy type: all three for sidecars, BlackHole for gateways, none for proxyless. */
export function buildSpecialClusters(view: ProxyView): EnvoyJson[] {
  switch (view.proxy.type) {
    case "sidecar":
      return [blackHoleCluster(), inboundPassthroughCluster(view.proxy.metadata.INTERCEPTION_MODE !== "NONE"), passthroughCluster()];
    case "router":
      return [blackHoleCluster()];
    case "proxyless":
      return [];
  }
}

/** Every cluster of a proxy, sorted by name: outbound, inbound and special. */
export function buildClusters(view: ProxyView, options: ClusterOptions = {}): EnvoyJson[] {
  return [
    ...buildOutboundClusters(view, options),
    ...buildInboundClusters(view, options),
    ...buildSpecialClusters(view),
  ].sort(byName);
}

/** Names of the EDS clusters among `clusters`: what a proxy will ask endpoints for. */
export function edsClusterNames(clusters: readonly EnvoyJson[]): string[] {
  return clusters.filter((c) => c.type === "EDS").map((c) => String(c.name));
}
