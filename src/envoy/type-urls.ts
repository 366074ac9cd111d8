// Type URLs of the xDS resource types, and their short names (LDS, RDS, ...).
// src/pilot/translate/types.ts holds the same TypeUrl constants (the translation
// contract); they are kept identical there so translate need not import this room.
export const TypeUrl = {
  listener: "type.googleapis.com/envoy.config.listener.v3.Listener",
  route: "type.googleapis.com/envoy.config.route.v3.RouteConfiguration",
  cluster: "type.googleapis.com/envoy.config.cluster.v3.Cluster",
  endpoint: "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment",
  secret: "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret",
} as const;

export type TypeUrlValue = (typeof TypeUrl)[keyof typeof TypeUrl];

/** Istio/istioctl's short names of the xDS types. */
export const XdsTypeName: Record<TypeUrlValue, "LDS" | "RDS" | "CDS" | "EDS" | "SDS"> = {
  [TypeUrl.listener]: "LDS",
  [TypeUrl.route]: "RDS",
  [TypeUrl.cluster]: "CDS",
  [TypeUrl.endpoint]: "EDS",
  [TypeUrl.secret]: "SDS",
};

/** "type.googleapis.com/envoy.config.cluster.v3.Cluster" for "envoy.config.cluster.v3.Cluster". */
export function typeUrlOf(typeName: string): string {
  return `type.googleapis.com/${typeName}`;
}
