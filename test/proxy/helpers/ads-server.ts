// A small real ADS server for the proxy's tests: @grpc/grpc-js with Envoy's real protos
// (via src/envoy), serving fixed Envoy JSON resources that a test sets per type.
import * as grpc from "@grpc/grpc-js";
import { decodeMessage, encodeAny, protoRoot } from "../../../src/envoy/index.ts";
import { TypeUrl } from "../../../src/pilot/translate/types.ts";

type Json = Record<string, unknown>;
export type XdsType = "CDS" | "EDS" | "LDS" | "RDS";

const urls: Record<XdsType, string> = { CDS: TypeUrl.cluster, EDS: TypeUrl.endpoint, LDS: TypeUrl.listener, RDS: TypeUrl.route };
const typeOf = new Map(Object.entries(urls).map(([k, v]) => [v, k as XdsType]));

export interface SeenRequest {
  type: XdsType;
  version: string;
  nonce: string;
  names: string[];
  error?: string;
}

interface Stream {
  call: grpc.ServerDuplexStream<Json, Buffer>;
  names: Map<XdsType, string[]>;
  subscribed: Set<XdsType>;
}

export class TestAdsServer {
  private readonly server = new grpc.Server();
  private readonly resources = new Map<XdsType, Json[]>();
  private readonly versions = new Map<XdsType, number>();
  private readonly streams = new Set<Stream>();
  private nonce = 0;
  readonly requests: SeenRequest[] = [];
  private waiters: Array<() => void> = [];
  port = 0;

  constructor() {
    const responseType = () => protoRoot().lookupType("envoy.service.discovery.v3.DiscoveryResponse");
    this.server.addService(
      {
        StreamAggregatedResources: {
          path: "/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources",
          requestStream: true,
          responseStream: true,
          requestSerialize: (x: unknown) => x as Buffer,
          requestDeserialize: (b: Buffer) => decodeMessage("envoy.service.discovery.v3.DiscoveryRequest", b),
          responseSerialize: (b: Buffer) => b,
          responseDeserialize: (b: Buffer) => responseType().decode(b),
        },
      },
      {
        StreamAggregatedResources: (call: grpc.ServerDuplexStream<Json, Buffer>) => {
          const stream: Stream = { call, names: new Map(), subscribed: new Set() };
          this.streams.add(stream);
          call.on("data", (req: Json) => this.onRequest(stream, req));
          call.on("end", () => {
            this.streams.delete(stream);
            call.end();
          });
          call.on("error", () => this.streams.delete(stream));
          call.on("cancelled", () => this.streams.delete(stream));
        },
      },
    );
  }

  async start(): Promise<void> {
    this.port = await new Promise<number>((resolve, reject) =>
      this.server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port))),
    );
  }

  async stop(): Promise<void> {
    for (const s of this.streams) s.call.end();
    this.server.forceShutdown();
  }

  /** End every stream from the server side (the client should reconnect). */
  dropStreams(): void {
    for (const s of this.streams) s.call.end();
    this.streams.clear();
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** Replace the resources of a type (new version) and push to subscribers. */
  set(type: XdsType, resources: Json[]): string {
    this.resources.set(type, resources);
    const v = (this.versions.get(type) ?? 0) + 1;
    this.versions.set(type, v);
    for (const s of this.streams) if (s.subscribed.has(type)) this.push(s, type);
    return String(v);
  }

  version(type: XdsType): string {
    return String(this.versions.get(type) ?? 0);
  }

  private push(s: Stream, type: XdsType): void {
    const all = this.resources.get(type);
    if (!all) return;
    const names = s.names.get(type) ?? [];
    const wildcard = type === "CDS" || type === "LDS";
    const chosen = wildcard ? all : all.filter((r) => names.includes(String(r.name ?? r.cluster_name)));
    const body = {
      version_info: this.version(type),
      type_url: urls[type],
      nonce: String(++this.nonce),
      resources: chosen.map((r) => encodeAny({ "@type": urls[type], ...r })),
    };
    const t = protoRoot().lookupType("envoy.service.discovery.v3.DiscoveryResponse");
    s.call.write(Buffer.from(t.encode(t.fromObject(body)).finish()));
  }

  private onRequest(s: Stream, req: Json): void {
    const type = typeOf.get(String(req.type_url));
    if (!type) return;
    const names = (req.resource_names as string[] | undefined) ?? [];
    const err = req.error_detail as { message?: string } | undefined;
    this.requests.push({ type, version: String(req.version_info ?? ""), nonce: String(req.response_nonce ?? ""), names, error: err?.message });
    for (const w of this.waiters.splice(0)) w();
    const before = s.names.get(type) ?? [];
    const changed = before.join(",") !== names.join(",");
    s.names.set(type, names);
    const first = !s.subscribed.has(type);
    s.subscribed.add(type);
    // Respond to a new subscription or changed names; an ACK/NACK of the same names gets nothing.
    if (first || changed) this.push(s, type);
  }

  /** Wait until a request matching `pred` has been seen (bounded). */
  async waitForRequest(pred: (r: SeenRequest) => boolean, timeoutMs = 5000): Promise<SeenRequest> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.requests.find(pred);
      if (hit) return hit;
      if (Date.now() > deadline) throw new Error(`no matching xDS request within ${timeoutMs} ms; seen: ${JSON.stringify(this.requests)}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 50);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  waitForAck(type: XdsType, version: string): Promise<SeenRequest> {
    return this.waitForRequest((r) => r.type === type && r.version === version && !r.error && r.nonce !== "");
  }

  waitForNack(type: XdsType): Promise<SeenRequest> {
    return this.waitForRequest((r) => r.type === type && r.error !== undefined);
  }
}
