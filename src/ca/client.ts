// The workload side of the CA service: one CreateCertificate call over TLS, verifying
// the control plane's certificate against the mesh root the agent was given.
import * as grpc from "@grpc/grpc-js";
import { caServiceClient, type CertificateRequest, type CertificateResponse } from "./service-definition.ts";

export interface CaClientOptions {
  /** `host:port` of the CA service (the control plane's 15012). */
  address: string;
  /** PEM root(s) the control plane's serving certificate must chain to. */
  rootsPem: string;
  /** Name to verify the server certificate against when `address` is not it (e.g. istiod.istio-system.svc). */
  serverName?: string;
  timeoutMs?: number;
}

type UnaryCall = (req: CertificateRequest, md: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: CertificateResponse) => void) => void;

export class CaClient {
  readonly #client: grpc.Client;
  readonly #timeoutMs: number;

  constructor(opts: CaClientOptions) {
    const Client = caServiceClient();
    const channelOptions: grpc.ChannelOptions = opts.serverName ? { "grpc.ssl_target_name_override": opts.serverName, "grpc.default_authority": opts.serverName } : {};
    this.#client = new Client(opts.address, grpc.credentials.createSsl(Buffer.from(opts.rootsPem)), channelOptions);
    this.#timeoutMs = opts.timeoutMs ?? 10_000;
  }

  /** Sends the CSR with the token; resolves with the PEM chain (leaf first, root last). */
  createCertificate(csrPem: string, ttlSeconds: number, token: string): Promise<string[]> {
    const md = new grpc.Metadata();
    md.set("authorization", `Bearer ${token}`);
    const call = (this.#client as unknown as { CreateCertificate: UnaryCall }).CreateCertificate.bind(this.#client);
    return new Promise((resolve, reject) => {
      call({ csr: csrPem, validity_duration: ttlSeconds }, md, { deadline: Date.now() + this.#timeoutMs }, (err, res) => {
        if (err) reject(new Error(`CA ${grpc.status[err.code] ?? err.code}: ${err.details || err.message}`));
        else resolve(res?.cert_chain ?? []);
      });
    });
  }

  close(): void {
    this.#client.close();
  }
}
