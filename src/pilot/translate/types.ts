// The translation contract: an immutable mesh snapshot and one proxy in, Envoy v3
// resources out. Pure: no I/O, no clocks, deterministic order.
import type { AnyResource } from "../../api/types.ts";
import type { RegistrySnapshot } from "../../registry/types.ts";

/** Istio's meshConfig fields that translation reads (see docs/config.md). */
export interface MeshConfig {
  rootNamespace: string;
  trustDomain: string;
  /** DNS domain of services, `cluster.local`. */
  domain: string;
  outboundTrafficPolicy: { mode: "ALLOW_ANY" | "REGISTRY_ONLY" };
  enableAutoMtls: boolean;
  accessLogFile?: string;
  accessLogEncoding?: "TEXT" | "JSON";
  accessLogFormat?: string;
  enableTracing?: boolean;
  defaultConfig?: ProxyDefaultConfig;
  extensionProviders?: ExtensionProvider[];
  defaultProviders?: DefaultProviders;
}

/** meshConfig.defaultConfig: the part translation reads (tracing, see docs/mesh-config.md). */
export interface ProxyDefaultConfig {
  tracing?: {
    /** 0..100, Istio's default 1. */
    sampling?: number;
    zipkin?: { address?: string };
    custom_tags?: Record<string, TracingCustomTag>;
    max_path_tag_length?: number;
  };
}

export interface TracingCustomTag {
  literal?: { value: string };
  environment?: { name: string; defaultValue?: string };
  header?: { name: string; defaultValue?: string };
}

/** meshConfig.extensionProviders entries Skiff understands: exactly one kind field is set. */
export interface ExtensionProvider {
  name: string;
  zipkin?: { service: string; port: number; maxTagLength?: number; path?: string };
  opentelemetry?: { service: string; port: number; maxTagLength?: number; http?: { path?: string; timeout?: string }; grpc?: Record<string, unknown> };
  envoyFileAccessLog?: { path?: string; logFormat?: { text?: string; labels?: Record<string, string> } };
  prometheus?: Record<string, never>;
}

/** meshConfig.defaultProviders: provider names used when no Telemetry resource says otherwise. */
export interface DefaultProviders {
  metrics?: string[];
  tracing?: string[];
  accessLogging?: string[];
}

export const defaultMeshConfig: MeshConfig = {
  rootNamespace: "istio-system",
  trustDomain: "cluster.local",
  domain: "cluster.local",
  outboundTrafficPolicy: { mode: "ALLOW_ANY" },
  enableAutoMtls: true,
  // Istio's defaults: tracing on (1 % sampled, to zipkin.istio-system:9411); metrics on
  // (defaultProviderNames: prometheus when defaultProviders.metrics is unset).
  enableTracing: true,
};

/** An immutable snapshot of everything translation may read. */
export interface MeshSnapshot {
  /** All config objects, sorted by kind, namespace, name. */
  config: readonly AnyResource[];
  registry: RegistrySnapshot;
  mesh: MeshConfig;
  version: number;
}

export type ProxyType = "sidecar" | "router" | "proxyless";

/** Who a connected proxy is, from its xDS node id and metadata. */
export interface ProxyNode {
  /** The full node id: `sidecar~10.0.0.1~pod.ns~ns.svc.cluster.local`. */
  id: string;
  type: ProxyType;
  ipAddresses: string[];
  /** `NAME.NAMESPACE` part of the id (pod or replica name). */
  podName: string;
  namespace: string;
  labels: Record<string, string>;
  serviceAccount: string;
  workloadName: string;
  /** Raw node metadata as sent (Istio's ISTIO_VERSION, INTERCEPTION_MODE, ...). */
  metadata: Record<string, unknown>;
  /**
   * Listener names a non-wildcard LDS subscriber asked for (proxyless gRPC asks for
   * `host:port` listeners by name); empty for sidecars and gateways.
   */
  requestedListeners?: readonly string[];
}

/**
 * Envoy v3 resources in proto3 JSON form with Envoy's field names (snake_case, as
 * Envoy's config_dump prints them). Nested Any values carry `@type`.
 */
export type EnvoyJson = Record<string, unknown>;

export interface EnvoyResources {
  listeners: EnvoyJson[];
  routes: EnvoyJson[];
  clusters: EnvoyJson[];
  endpoints: EnvoyJson[];
  secrets: EnvoyJson[];
}

/** A problem found while translating (config that validated but cannot be honoured). */
export interface TranslationProblem {
  /** The config object at fault, `Kind/namespace/name`. */
  resource: string;
  message: string;
}

export interface TranslationResult {
  resources: EnvoyResources;
  problems: TranslationProblem[];
}

export const TypeUrl = {
  listener: "type.googleapis.com/envoy.config.listener.v3.Listener",
  route: "type.googleapis.com/envoy.config.route.v3.RouteConfiguration",
  cluster: "type.googleapis.com/envoy.config.cluster.v3.Cluster",
  endpoint: "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment",
  secret: "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret",
} as const;
