// The proxy's SDS client: one StreamSecrets stream (envoy.service.secret.v3) to the
// bootstrap's `sds-grpc` cluster — in Istio's shape a Unix socket served by the node's
// agent — subscribing the secret names the TLS contexts of listeners and clusters use.
// Secrets go to the SecretStore; ACK/NACK as for ADS; reconnects with back-off.
import * as grpc from "@grpc/grpc-js";
import { decodeAny, encodeMessage, protoRoot, type AnyMessage, type EnvoyJsonObject } from "../envoy/index.ts";
import { TypeUrl } from "../pilot/translate/types.ts";
import { obj, str, type Json } from "./json.ts";
import { Reconnect } from "./reconnect.ts";
import type { SecretStore } from "./secrets.ts";
import type { TlsSecret } from "./upstream/index.ts";

const SERVICE_PATH = "/envoy.service.secret.v3.SecretDiscoveryService/StreamSecrets";
const REQUEST = "envoy.service.discovery.v3.DiscoveryRequest";
const RESPONSE = "envoy.service.discovery.v3.DiscoveryResponse";

interface RawResponse {
  version_info: string;
  resources: AnyMessage[];
  type_url: string;
  nonce: string;
}

export interface SdsClientOptions {
  /** gRPC target, e.g. `unix:/var/run/secrets/workload-spiffe-uds/socket`. */
  address: string;
  node: Json;
  store: SecretStore;
  log: (level: "info" | "warn" | "error" | "debug", msg: string) => void;
}

function dataSource(v: unknown, path: string): string {
  const d = obj(v);
  if (!d) throw new Error(`${path}: missing`);
  if (typeof d.inline_bytes === "string") return Buffer.from(d.inline_bytes, "base64").toString("utf8");
  if (typeof d.inline_string === "string") return d.inline_string;
  throw new Error(`${path}: only inline_bytes and inline_string are accepted over SDS`);
}

/** An Envoy Secret → the PEM the TLS code reads. */
export function secretFromJson(json: Json): { name: string; secret: TlsSecret } {
  const name = str(json.name);
  if (!name) throw new Error("secret without a name");
  const cert = obj(json.tls_certificate);
  const validation = obj(json.validation_context);
  if (cert) return { name, secret: { certificateChain: dataSource(cert.certificate_chain, `secret ${name}: tls_certificate.certificate_chain`), privateKey: dataSource(cert.private_key, `secret ${name}: tls_certificate.private_key`) } };
  if (validation) return { name, secret: { trustedCa: dataSource(validation.trusted_ca, `secret ${name}: validation_context.trusted_ca`) } };
  throw new Error(`secret ${name}: neither tls_certificate nor validation_context (generic secrets and session ticket keys are not implemented)`);
}

/** Every SDS secret name a resource's TLS contexts reference (walks the JSON). */
export function sdsSecretNames(json: unknown, into = new Set<string>()): Set<string> {
  if (Array.isArray(json)) for (const v of json) sdsSecretNames(v, into);
  else if (json && typeof json === "object") {
    for (const [k, v] of Object.entries(json as Json)) {
      if (k === "tls_certificate_sds_secret_configs" && Array.isArray(v)) for (const c of v) { const n = str(obj(c)?.name); if (n) into.add(n); }
      else if (k === "validation_context_sds_secret_config") { const n = str(obj(v)?.name); if (n) into.add(n); }
      else sdsSecretNames(v, into);
    }
  }
  return into;
}

export class SdsClient {
  private client: grpc.Client | undefined;
  private call: grpc.ClientDuplexStream<Json, RawResponse> | undefined;
  private names: string[] = [];
  private version = "";
  private nonce = "";
  private stopped = false;
  private readonly reconnect = new Reconnect(250, 10_000);
  lastError: string | undefined;

  constructor(private readonly opts: SdsClientOptions) {}

  start(): void {
    this.stopped = false;
    this.client = new grpc.Client(this.opts.address, grpc.credentials.createInsecure());
    this.connect();
  }

  stop(): void {
    this.stopped = true;
    this.reconnect.cancel();
    this.call?.cancel();
    this.call = undefined;
    this.client?.close();
  }

  /** Subscribe exactly these names (sent only when they changed). */
  subscribe(names: string[]): void {
    const sorted = [...new Set(names)].sort();
    if (sorted.join(",") === this.names.join(",")) return;
    this.names = sorted;
    this.request();
  }

  private connect(): void {
    if (this.stopped || !this.client) return;
    const call = this.client.makeBidiStreamRequest(
      SERVICE_PATH,
      (req: Json) => encodeMessage(REQUEST, req as EnvoyJsonObject),
      // The envelope only: each secret is decoded on its own so a bad one becomes a NACK.
      (bytes: Buffer) => {
        const type = protoRoot().lookupType(RESPONSE);
        return type.toObject(type.decode(bytes), { defaults: true, longs: String }) as RawResponse;
      },
    );
    this.call = call;
    call.on("data", (res: RawResponse) => {
      this.reconnect.reset();
      this.onResponse(res);
    });
    const onEnd = (why: string): void => {
      if (this.call !== call) return;
      this.call = undefined;
      if (this.stopped) return;
      const delay = this.reconnect.schedule(() => this.connect());
      this.opts.log("warn", `SDS stream to ${this.opts.address} ended (${why}); reconnecting in ${delay} ms`);
    };
    call.on("error", (err: grpc.ServiceError) => onEnd(err.details || err.message));
    call.on("end", () => onEnd("server closed the stream"));
    this.nonce = "";
    this.request();
  }

  private request(error?: string): void {
    if (!this.call || this.names.length === 0) return;
    const req: Json = { node: this.opts.node, type_url: TypeUrl.secret, version_info: this.version, resource_names: this.names };
    if (this.nonce) req.response_nonce = this.nonce;
    if (error) req.error_detail = { code: 3, message: error };
    this.call.write(req);
  }

  private onResponse(res: RawResponse): void {
    this.nonce = res.nonce;
    const secrets: Array<{ name: string; secret: TlsSecret }> = [];
    const errors: string[] = [];
    for (const any of res.resources) {
      try {
        secrets.push(secretFromJson(decodeAny(any)));
      } catch (err) {
        errors.push((err as Error).message);
      }
    }
    if (errors.length) {
      this.lastError = errors.join("; ");
      this.opts.log("error", `SDS version ${res.version_info} rejected: ${this.lastError}`);
      this.request(this.lastError);
      return;
    }
    this.version = res.version_info;
    this.lastError = undefined;
    this.opts.store.set(secrets, res.version_info);
    this.opts.log("info", `SDS: ${secrets.map((s) => s.name).join(", ")} version ${res.version_info}`);
    this.request();
  }
}
