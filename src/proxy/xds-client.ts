// The ADS client (state of the world): one bidirectional StreamAggregatedResources
// stream carrying CDS and LDS (wildcard), EDS for the EDS clusters and RDS for the
// route configurations listeners name. Every response is ACKed with its version and
// nonce, or NACKed with the previous version and an error_detail that names the
// resource, the field and why. Reconnects with jittered exponential back-off.
import * as grpc from "@grpc/grpc-js";
import { decodeAny, encodeMessage, protoRoot, type AnyMessage } from "../envoy/index.ts";
import { TypeUrl } from "../pilot/translate/types.ts";
import type { Json } from "./json.ts";
import { Reconnect } from "./reconnect.ts";

const SERVICE_PATH = "/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources";
const REQUEST = "envoy.service.discovery.v3.DiscoveryRequest";
const RESPONSE = "envoy.service.discovery.v3.DiscoveryResponse";

export type XdsType = "CDS" | "EDS" | "LDS" | "RDS";

export const typeUrlOf: Record<XdsType, string> = {
  CDS: TypeUrl.cluster,
  EDS: TypeUrl.endpoint,
  LDS: TypeUrl.listener,
  RDS: TypeUrl.route,
};

const typeOfUrl = new Map<string, XdsType>(Object.entries(typeUrlOf).map(([k, v]) => [v, k as XdsType]));

/** What the proxy does with a decoded response; returns error messages (empty = ACK). */
export interface XdsHandlers {
  apply(type: XdsType, resources: Json[], version: string): string[];
  /** Resource names to subscribe to for EDS and RDS (CDS/LDS are wildcard). */
  resourceNames(type: "EDS" | "RDS"): string[];
}

interface RawResponse {
  version_info: string;
  resources: AnyMessage[];
  type_url: string;
  nonce: string;
}

export interface TypeStatus {
  /** Last accepted version (what we ACKed), "" before the first. */
  version: string;
  nonce: string;
  lastUpdated: Date | undefined;
  /** The last NACK's message, cleared by the next ACK. */
  lastError: string | undefined;
  names: string[];
}

export interface XdsClientOptions {
  /** host:port of the ADS server. */
  address: string;
  /** TLS to the ADS server, verified against these roots (Istio's 15012); absent: plaintext. */
  tls?: { rootsPem: string };
  node: Json;
  handlers: XdsHandlers;
  log: (level: "info" | "warn" | "error" | "debug", msg: string) => void;
  initialBackoffMs?: number;
  maxBackoffMs?: number;
}

function serializeRequest(req: Json): Buffer {
  return encodeMessage(REQUEST, req);
}

function deserializeResponse(bytes: Buffer): RawResponse {
  // Decode the envelope only: each resource Any is decoded separately so a bad one
  // turns into a precise NACK rather than a failed stream.
  const type = protoRoot().lookupType(RESPONSE);
  const msg = type.toObject(type.decode(bytes), { defaults: true, longs: String }) as RawResponse;
  return msg;
}

export class XdsClient {
  private client: grpc.Client | undefined;
  private call: grpc.ClientDuplexStream<Json, RawResponse> | undefined;
  private readonly status = new Map<XdsType, TypeStatus>();
  private readonly reconnect: Reconnect;
  private stopped = false;
  private connectedOnce = false;
  /** Responses applied per type (for tests and /server_info). */
  readonly counters = { acks: 0, nacks: 0, reconnects: 0 };

  constructor(private readonly opts: XdsClientOptions) {
    this.reconnect = new Reconnect(opts.initialBackoffMs ?? 500, opts.maxBackoffMs ?? 30_000);
    for (const t of ["CDS", "EDS", "LDS", "RDS"] as XdsType[]) this.status.set(t, { version: "", nonce: "", lastUpdated: undefined, lastError: undefined, names: [] });
  }

  typeStatus(type: XdsType): TypeStatus {
    return this.status.get(type)!;
  }

  start(): void {
    this.stopped = false;
    const credentials = this.opts.tls ? grpc.credentials.createSsl(Buffer.from(this.opts.tls.rootsPem)) : grpc.credentials.createInsecure();
    this.client = new grpc.Client(this.opts.address, credentials, {
      "grpc.keepalive_time_ms": 30_000,
    });
    this.connect();
  }

  stop(): void {
    this.stopped = true;
    this.reconnect.cancel();
    this.call?.cancel();
    this.call = undefined;
    this.client?.close();
  }

  private connect(): void {
    if (this.stopped || !this.client) return;
    const call = this.client.makeBidiStreamRequest(SERVICE_PATH, serializeRequest, deserializeResponse);
    this.call = call;
    let gotResponse = false;
    call.on("data", (res: RawResponse) => {
      if (!gotResponse) {
        gotResponse = true;
        this.reconnect.reset();
        if (this.connectedOnce) this.counters.reconnects++;
        this.connectedOnce = true;
      }
      this.onResponse(res);
    });
    const onEnd = (why: string): void => {
      if (this.call !== call) return;
      this.call = undefined;
      if (this.stopped) return;
      const delay = this.reconnect.schedule(() => this.connect());
      this.opts.log("warn", `xDS stream to ${this.opts.address} ended (${why}); reconnecting in ${delay} ms`);
    };
    call.on("error", (err: grpc.ServiceError) => onEnd(err.details || err.message));
    call.on("end", () => onEnd("server closed the stream"));
    // Envoy's order: CDS first, then LDS; EDS/RDS follow once names are known. On a
    // reconnect the last accepted versions go along so the server can skip re-sending.
    this.request("CDS", undefined);
    this.request("LDS", undefined);
    this.updateSubscriptions(true);
  }

  /** Send a DiscoveryRequest for `type` (ACK when nonce given, NACK with `error`). */
  private request(type: XdsType, nonce: string | undefined, error?: string): void {
    const st = this.status.get(type)!;
    const req: Json = {
      node: this.opts.node,
      type_url: typeUrlOf[type],
      version_info: st.version,
      resource_names: type === "EDS" || type === "RDS" ? st.names : [],
    };
    if (nonce) req.response_nonce = nonce;
    if (error) req.error_detail = { code: 3, message: error };
    this.call?.write(req);
  }

  /** Re-send EDS/RDS requests when the names the proxy needs changed. */
  updateSubscriptions(force = false): void {
    for (const type of ["EDS", "RDS"] as const) {
      const names = this.opts.handlers.resourceNames(type);
      const st = this.status.get(type)!;
      const same = names.length === st.names.length && names.every((n, i) => n === st.names[i]);
      if (same && !force) continue;
      st.names = names;
      if (names.length === 0 && !same) {
        // Unsubscribe everything of this type.
        this.request(type, st.nonce || undefined);
      } else if (names.length > 0) this.request(type, st.nonce || undefined);
    }
  }

  private onResponse(res: RawResponse): void {
    const type = typeOfUrl.get(res.type_url);
    if (!type) {
      this.opts.log("warn", `xDS: ignoring response of unsupported type ${res.type_url}`);
      return;
    }
    const st = this.status.get(type)!;
    st.nonce = res.nonce;
    const resources: Json[] = [];
    const errors: string[] = [];
    for (const any of res.resources) {
      try {
        resources.push(decodeAny(any));
      } catch (err) {
        errors.push((err as Error).message);
      }
    }
    if (errors.length === 0) errors.push(...this.opts.handlers.apply(type, resources, res.version_info));
    if (errors.length) {
      const message = errors.join("; ");
      st.lastError = message;
      this.counters.nacks++;
      this.opts.log("error", `xDS ${type} version ${res.version_info} rejected: ${message}`);
      this.request(type, res.nonce, message);
      return;
    }
    st.version = res.version_info;
    st.lastUpdated = new Date();
    st.lastError = undefined;
    this.counters.acks++;
    this.opts.log("debug", `xDS ${type} version ${res.version_info} accepted (${resources.length} resources)`);
    this.request(type, res.nonce);
    if (type === "CDS" || type === "LDS") this.updateSubscriptions();
  }
}
