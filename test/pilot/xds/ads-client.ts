// A minimal ADS client for tests: a real gRPC stream to the server, requests as proto3
// JSON, responses decoded (resources as JSON with "@type"), read in order with a timeout.
import * as grpc from "@grpc/grpc-js";
import { adsServiceDefinition } from "../../../src/pilot/xds/grpc-service.ts";

export interface Response {
  version_info?: string;
  type_url: string;
  nonce: string;
  resources?: Record<string, unknown>[];
}

export class AdsTestClient {
  readonly #client: grpc.Client;
  readonly #call: grpc.ClientDuplexStream<Record<string, unknown>, Response>;
  readonly #queue: Response[] = [];
  readonly #waiters: ((r: Response | Error) => void)[] = [];
  error: grpc.ServiceError | undefined;

  constructor(port: number, readonly node: Record<string, unknown>) {
    const Client = grpc.makeGenericClientConstructor(adsServiceDefinition(), "AggregatedDiscoveryService");
    this.#client = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    const method = (this.#client as unknown as Record<string, () => grpc.ClientDuplexStream<Record<string, unknown>, Response>>).StreamAggregatedResources;
    this.#call = method.call(this.#client);
    this.#call.on("data", (r: Response) => {
      const waiter = this.#waiters.shift();
      if (waiter) waiter(r);
      else this.#queue.push(r);
    });
    this.#call.on("error", (err: grpc.ServiceError) => {
      this.error = err;
      for (const w of this.#waiters.splice(0)) w(err);
    });
  }

  request(req: Record<string, unknown>, withNode = false): void {
    this.#call.write(withNode ? { node: this.node, ...req } : req);
  }

  /** The next response (or the stream's error), failing after a generous timeout. */
  next(timeoutMs = 5000): Promise<Response> {
    const queued = this.#queue.shift();
    if (queued) return Promise.resolve(queued);
    if (this.error) return Promise.reject(this.error);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("no xDS response within timeout")), timeoutMs);
      this.#waiters.push((r) => {
        clearTimeout(timer);
        if (r instanceof Error) reject(r);
        else resolve(r);
      });
    });
  }

  get queued(): number {
    return this.#queue.length;
  }

  ack(r: Response, names?: string[]): void {
    this.request({ type_url: r.type_url, version_info: r.version_info, response_nonce: r.nonce, ...(names ? { resource_names: names } : {}) });
  }

  nack(r: Response, previousVersion: string, message: string, names?: string[]): void {
    this.request({
      type_url: r.type_url,
      version_info: previousVersion,
      response_nonce: r.nonce,
      error_detail: { code: 3, message },
      ...(names ? { resource_names: names } : {}),
    });
  }

  close(): void {
    this.#call.cancel();
    this.#client.close();
  }
}
