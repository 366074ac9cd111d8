// A concrete upstream host: identity from its endpoint, plus the mutable state that load
// balancing, outlier detection and the pools share (active requests, ejection).
import type { EndpointSpec } from "./config.ts";
import type { TlsSpec } from "./tls.ts";
import type { EnvoyJson, HealthStatus, Host, HostStats, Locality } from "./types.ts";

export class HostImpl implements Host {
  readonly key: string;
  weight: number;
  healthStatus: HealthStatus;
  locality: Locality;
  localityWeight: number;
  priority: number;
  hostname?: string;
  metadata?: EnvoyJson;
  ejected = false;
  readonly stats: HostStats = { rq_total: 0, rq_success: 0, rq_error: 0, rq_timeout: 0, rq_active: 0, cx_total: 0, cx_active: 0, cx_connect_fail: 0 };

  // Outlier detection state.
  consecutive5xx = 0;
  consecutiveGatewayFailure = 0;
  consecutiveLocalOriginFailure = 0;
  numEjections = 0;
  ejectedAtMs = 0;
  /** TLS origination settings for connections to this host (undefined: plaintext). */
  tls?: TlsSpec;
  /** When the host joined the cluster (slow start). */
  addedAtMs = 0;
  /** ORIGINAL_DST: used since the last cleanup sweep. */
  used = true;

  constructor(readonly address: string, readonly port: number, spec?: Partial<EndpointSpec>) {
    this.key = address.includes(":") ? `[${address}]:${port}` : `${address}:${port}`;
    this.weight = spec?.weight ?? 1;
    this.healthStatus = spec?.healthStatus ?? "UNKNOWN";
    this.locality = spec?.locality ?? {};
    this.localityWeight = spec?.localityWeight ?? 1;
    this.priority = spec?.priority ?? 0;
    this.hostname = spec?.hostname;
    this.metadata = spec?.metadata;
  }

  /** Update the EDS-provided attributes in place (keeps pools and outlier state). */
  update(spec: EndpointSpec): void {
    this.weight = spec.weight;
    this.healthStatus = spec.healthStatus;
    this.locality = spec.locality;
    this.localityWeight = spec.localityWeight;
    this.priority = spec.priority;
    this.hostname = spec.hostname;
    this.metadata = spec.metadata;
  }

  /** Healthy for load balancing: not ejected and EDS does not say UNHEALTHY, DRAINING or TIMEOUT. */
  get healthy(): boolean {
    return !this.ejected && (this.healthStatus === "UNKNOWN" || this.healthStatus === "HEALTHY" || this.healthStatus === "DEGRADED");
  }

  /** Envoy's `/clusters` health_flags text. */
  healthFlags(): string {
    const flags: string[] = [];
    if (this.ejected) flags.push("/failed_outlier_check");
    if (this.healthStatus === "UNHEALTHY" || this.healthStatus === "TIMEOUT") flags.push("/failed_eds_health");
    if (this.healthStatus === "DRAINING") flags.push("/eds_status_draining");
    if (this.healthStatus === "DEGRADED") flags.push("/degraded_eds_health");
    return flags.length ? flags.join("") : "healthy";
  }
}
