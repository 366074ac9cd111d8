// The agent's Secret Discovery Service, as Istio's agent serves it: the proxy's
// `sds-grpc` cluster points at a Unix socket, and the agent answers StreamSecrets
// (envoy.service.secret.v3) with `default` (the workload's certificate chain and key,
// from the CertManager) and `ROOTCA` (the mesh root). Keys never leave the workload's
// host; the control plane never sees them. A new SVID (rotation) is pushed to every open
// stream at once.
import * as grpc from "@grpc/grpc-js";
import { mkdir, rm } from "node:fs/promises";
import { dirname } from "node:path";
import { encodeAny, encodeMessage, decodeMessage, protoRoot, TypeUrl, type AnyMessage, type EnvoyJsonObject } from "../envoy/index.ts";
import type { Svid } from "./cert-svid.ts";

export const SDS_SERVICE_PATH = "/envoy.service.secret.v3.SecretDiscoveryService/StreamSecrets";
export const WORKLOAD_SECRET_NAME = "default";
export const ROOT_SECRET_NAME = "ROOTCA";
const REQUEST = "envoy.service.discovery.v3.DiscoveryRequest";
const RESPONSE = "envoy.service.discovery.v3.DiscoveryResponse";

/** Where the current SVID comes from (a CertManager) and how to hear of new ones. */
export interface SvidSource {
  current(): Svid | undefined;
  onUpdate(fn: (svid: Svid) => void): () => unknown;
}

export interface SdsServerOptions {
  /** Unix socket path (Istio: ./var/run/secrets/workload-spiffe-uds/socket). */
  socketPath: string;
  svids: SvidSource;
  log?: (level: "info" | "warn" | "error", msg: string) => void;
}

interface DiscoveryRequest {
  version_info?: string;
  resource_names?: string[];
  response_nonce?: string;
  error_detail?: { message?: string };
}

const b64 = (pem: string): string => Buffer.from(pem, "utf8").toString("base64");

/** The Envoy Secret resource for `name` from an SVID (undefined for names the agent does not serve). */
export function secretResource(name: string, svid: Svid): EnvoyJsonObject | undefined {
  if (name === WORKLOAD_SECRET_NAME) {
    return { "@type": TypeUrl.secret, name, tls_certificate: { certificate_chain: { inline_bytes: b64(svid.certChainPem) }, private_key: { inline_bytes: b64(svid.keyPem) } } };
  }
  if (name === ROOT_SECRET_NAME) return { "@type": TypeUrl.secret, name, validation_context: { trusted_ca: { inline_bytes: b64(svid.rootsPem) } } };
  return undefined;
}

class SdsStream {
  names: string[] = [];
  private nonce = 0;

  constructor(
    readonly call: grpc.ServerDuplexStream<EnvoyJsonObject, Buffer>,
    private readonly log: NonNullable<SdsServerOptions["log"]>,
  ) {}

  push(svid: Svid | undefined): void {
    if (!svid || this.names.length === 0) return;
    const resources: AnyMessage[] = [];
    for (const name of this.names) {
      const json = secretResource(name, svid);
      if (json) resources.push(encodeAny(json));
    }
    this.nonce++;
    const response = { version_info: svid.serial, resources, type_url: TypeUrl.secret, nonce: String(this.nonce) };
    // Resources are already Any-encoded: encode the envelope with protobufjs directly.
    const type = protoRoot().lookupType(RESPONSE);
    this.call.write(Buffer.from(type.encode(response).finish()));
    this.log("info", `SDS: sent ${this.names.join(", ")} (certificate serial ${svid.serial})`);
  }
}

export interface RunningSdsServer {
  socketPath: string;
  close(): Promise<void>;
}

/** Serve SDS on a Unix socket (created fresh: a stale socket file is removed first). */
export async function startSdsServer(options: SdsServerOptions): Promise<RunningSdsServer> {
  const log = options.log ?? (() => {});
  const streams = new Set<SdsStream>();
  const server = new grpc.Server();
  const definition: grpc.ServiceDefinition = {
    StreamSecrets: {
      path: SDS_SERVICE_PATH,
      requestStream: true,
      responseStream: true,
      requestDeserialize: (bytes: Buffer) => decodeMessage(REQUEST, bytes),
      requestSerialize: (json: EnvoyJsonObject) => encodeMessage(REQUEST, json),
      responseSerialize: (bytes: Buffer) => bytes,
      responseDeserialize: (bytes: Buffer) => bytes,
    },
  };
  server.addService(definition, {
    StreamSecrets: (call: grpc.ServerDuplexStream<EnvoyJsonObject, Buffer>) => {
      const stream = new SdsStream(call, log);
      streams.add(stream);
      const gone = (): void => {
        streams.delete(stream);
      };
      call.on("end", () => {
        gone();
        call.end();
      });
      call.on("error", gone);
      call.on("cancelled", gone);
      call.on("data", (raw: EnvoyJsonObject) => {
        const req = raw as DiscoveryRequest;
        if (req.error_detail?.message) log("warn", `SDS: the proxy rejected secrets: ${req.error_detail.message}`);
        const names = [...(req.resource_names ?? [])].sort();
        const changed = names.join(",") !== stream.names.join(",");
        stream.names = names;
        // An ACK of what we sent needs no answer; a new subscription (or the first) does.
        if (changed || !req.response_nonce) stream.push(options.svids.current());
      });
    },
  });
  const unsubscribe = options.svids.onUpdate((svid) => {
    for (const s of streams) s.push(svid);
  });
  await mkdir(dirname(options.socketPath), { recursive: true });
  await rm(options.socketPath, { force: true });
  await new Promise<void>((resolve, reject) =>
    server.bindAsync(`unix:${options.socketPath}`, grpc.ServerCredentials.createInsecure(), (err) => (err ? reject(new Error(`cannot serve SDS on ${options.socketPath}: ${err.message}`)) : resolve())),
  );
  return {
    socketPath: options.socketPath,
    close: () =>
      new Promise<void>((resolve) => {
        unsubscribe();
        for (const s of streams) s.call.end();
        server.tryShutdown(() => resolve());
        setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, 1_000).unref();
      }),
  };
}
