// istio.metadata_exchange (Istio's io.istio.http.peer_metadata.Config in a TypedStruct):
// which side of the exchange this HCM is. A client-side HCM (upstream_* fields)
// announces itself in request headers and learns the server from the response; a
// server-side one (downstream_* fields) learns the client from the request and answers
// with its own. The header work happens in telemetry-hcm.ts, next to the stats that use it.
import { ConfigError, arr, onlyFields, type Json } from "../json.ts";
import type { HttpFilter } from "../http-filter.ts";

export const peerMetadataConfigType = "type.googleapis.com/io.istio.http.peer_metadata.Config";

export interface MetadataExchangeConfig {
  /** Learn the peer from its headers (discovery includes istio_headers). */
  discover: boolean;
  /** Send our own headers (propagation includes istio_headers). */
  propagate: boolean;
  side: "client" | "server";
}

export function parseMetadataExchangeConfig(value: Json, path: string): MetadataExchangeConfig {
  onlyFields(value, path, ["upstream_discovery", "upstream_propagation", "downstream_discovery", "downstream_propagation"], ["shared_with_upstream", "additional_labels"]);
  const client = value.upstream_discovery !== undefined || value.upstream_propagation !== undefined;
  const server = value.downstream_discovery !== undefined || value.downstream_propagation !== undefined;
  if (client && server) throw new ConfigError(path, "one filter is either the client (upstream_*) or the server (downstream_*) side; Istio emits one per direction");
  const side = client ? "client" : "server";
  const discovery = arr(value[`${side === "client" ? "upstream" : "downstream"}_discovery`]);
  const propagation = arr(value[`${side === "client" ? "upstream" : "downstream"}_propagation`]);
  const methods = (list: Json[], p: string): boolean => {
    let headers = false;
    list.forEach((m, i) => {
      // workload_discovery (look the peer up by address in the control plane's registry) is
      // accepted and not done: peers without headers stay `unknown`.
      onlyFields(m, `${p}[${i}]`, ["istio_headers"], ["workload_discovery"]);
      if (m.istio_headers !== undefined) headers = true;
    });
    return headers;
  };
  return {
    side,
    discover: methods(discovery, `${path}.${side === "client" ? "upstream" : "downstream"}_discovery`),
    propagate: methods(propagation, `${path}.${side === "client" ? "upstream" : "downstream"}_propagation`),
  };
}

export class MetadataExchangeFilter implements HttpFilter {
  constructor(
    readonly name: string,
    readonly config: MetadataExchangeConfig,
  ) {}
  onRequest(): "continue" {
    return "continue";
  }
}
