// Simulated sidecars: one ADS stream each (state of the world), subscribing CDS and LDS
// wildcard, then EDS for the EDS clusters and RDS for the route configurations the
// listeners name, as Skiff's proxy and Envoy do, ACKing every response. Many streams in
// one process: responses are decoded only as far as needed (the envelope; resources only
// to learn EDS/RDS names, and that once per distinct version since versions are content
// hashes).
import * as grpc from "@grpc/grpc-js";
import { encodeMessage, decodeAny, protoRoot, TypeUrl } from "../../src/envoy/index.ts";

const PATH = "/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources";
const REQUEST = "envoy.service.discovery.v3.DiscoveryRequest";
const RESPONSE = "envoy.service.discovery.v3.DiscoveryResponse";

interface Raw {
  bytes: number;
  version_info: string;
  type_url: string;
  nonce: string;
  resources: Array<{ type_url: string; value: Uint8Array }>;
}

const TYPES = [TypeUrl.cluster, TypeUrl.listener, TypeUrl.endpoint, TypeUrl.route] as const;

/** EDS/RDS names learnt from a CDS/LDS response, by type and version. */
const namesCache = new Map<string, string[]>();

function edsNames(r: Raw): string[] {
  const key = `${r.type_url}|${r.version_info}`;
  let names = namesCache.get(key);
  if (!names) {
    names = [];
    for (const any of r.resources) {
      const c = decodeAny(any as never) as Record<string, unknown>;
      if (c.type === "EDS") names.push(((c.eds_cluster_config as Record<string, unknown> | undefined)?.service_name as string) || (c.name as string));
    }
    names.sort();
    namesCache.set(key, names);
  }
  return names;
}

function collectRouteNames(v: unknown, out: Set<string>): void {
  if (Array.isArray(v)) for (const x of v) collectRouteNames(x, out);
  else if (v && typeof v === "object") {
    for (const [k, x] of Object.entries(v)) {
      if (k === "route_config_name" && typeof x === "string") out.add(x);
      else collectRouteNames(x, out);
    }
  }
}

function rdsNames(r: Raw): string[] {
  const key = `${r.type_url}|${r.version_info}`;
  let names = namesCache.get(key);
  if (!names) {
    const set = new Set<string>();
    for (const any of r.resources) collectRouteNames(decodeAny(any as never), set);
    names = [...set].sort();
    namesCache.set(key, names);
  }
  return names;
}

export interface ClientStats {
  /** When every type got its first response ACKed (ms since the epoch of the run), or 0. */
  fullyAckedAt: number;
  /** When the first response arrived (performance.now()), or 0. */
  firstResponseAt: number;
  /** ACK times (performance.now()) after `mark`, per response, for convergence. */
  acksSinceMark: number[];
  bytes: number;
  responses: number;
  nacks: number;
  error: string | undefined;
}

export class SimulatedSidecar {
  readonly stats: ClientStats = { fullyAckedAt: 0, firstResponseAt: 0, acksSinceMark: [], bytes: 0, responses: 0, nacks: 0, error: undefined };
  private call: grpc.ClientDuplexStream<Record<string, unknown>, Raw> | undefined;
  private readonly acked = new Set<string>();
  private readonly names = new Map<string, string[]>();
  private readonly last = new Map<string, { version: string; nonce: string }>();
  private mark = Infinity;

  constructor(
    private readonly client: grpc.Client,
    private readonly node: Record<string, unknown>,
  ) {}

  start(): void {
    const call = this.client.makeBidiStreamRequest(
      PATH,
      // The first request carries the node (a Struct: the codec's JSON mapping); ACKs and
      // subscriptions are plain fields, encoded straight by protobufjs (cheaper).
      (req: Record<string, unknown>) => (req.node ? encodeMessage(REQUEST, req) : Buffer.from(protoRoot().lookupType(REQUEST).encode(req).finish())),
      (bytes: Buffer): Raw => {
        const type = protoRoot().lookupType(RESPONSE);
        const m = type.decode(bytes) as unknown as Raw;
        return { bytes: bytes.length, version_info: m.version_info, type_url: m.type_url, nonce: m.nonce, resources: m.resources };
      },
    );
    this.call = call;
    call.on("data", (r: Raw) => this.onResponse(r));
    call.on("error", (err: grpc.ServiceError) => {
      if (err.code !== grpc.status.CANCELLED) this.stats.error = err.message;
    });
    call.write({ node: this.node, type_url: TypeUrl.cluster });
    call.write({ type_url: TypeUrl.listener });
  }

  /** ACKs after this moment count for convergence. */
  setMark(at: number): void {
    this.mark = at;
    this.stats.acksSinceMark = [];
  }

  private onResponse(r: Raw): void {
    this.stats.bytes += r.bytes;
    if (!this.stats.firstResponseAt) this.stats.firstResponseAt = performance.now();
    this.stats.responses++;
    const names = r.type_url === TypeUrl.endpoint || r.type_url === TypeUrl.route ? (this.names.get(r.type_url) ?? []) : undefined;
    this.call!.write({ type_url: r.type_url, version_info: r.version_info, response_nonce: r.nonce, ...(names ? { resource_names: names } : {}) });
    const now = performance.now();
    if (now >= this.mark) this.stats.acksSinceMark.push(now);
    this.last.set(r.type_url, { version: r.version_info, nonce: r.nonce });
    this.acked.add(r.type_url);
    if (r.type_url === TypeUrl.cluster) this.subscribe(TypeUrl.endpoint, edsNames(r));
    if (r.type_url === TypeUrl.listener) this.subscribe(TypeUrl.route, rdsNames(r));
    if (!this.stats.fullyAckedAt && TYPES.every((t) => this.acked.has(t) || (t !== TypeUrl.cluster && t !== TypeUrl.listener && this.names.get(t)?.length === 0))) {
      this.stats.fullyAckedAt = now;
    }
  }

  private subscribe(typeUrl: string, names: string[]): void {
    const prev = this.names.get(typeUrl);
    if (prev && prev.length === names.length && prev.every((n, i) => n === names[i])) return;
    this.names.set(typeUrl, names);
    const last = this.last.get(typeUrl);
    this.call!.write({ type_url: typeUrl, resource_names: names, ...(last ? { version_info: last.version, response_nonce: last.nonce } : {}) });
  }

  stop(): void {
    this.call?.cancel();
  }
}

/** Envoy's default initial_stream_window_size and initial_connection_window_size. */
const ENVOY_WINDOW = 256 * 1024 * 1024;

/** gRPC clients sharing a few HTTP/2 connections (one per `perChannel` streams). */
export function makeClients(port: number, count: number, perChannel: number): grpc.Client[] {
  const channels: grpc.Client[] = [];
  for (let i = 0; i < Math.ceil(count / perChannel); i++) {
    // A distinct option keeps grpc-js from sharing one subchannel among all clients.
    // HTTP/2 flow-control windows as Envoy's defaults (256 MiB per stream and connection):
    // with grpc-js's 64 KiB, 50 streams would share 64 KiB per round trip, a limit of
    // this simulator that real sidecars (one connection each, large windows) do not have.
    channels.push(
      new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), {
        "grpc.max_receive_message_length": -1,
        "grpc-node.flow_control_window": ENVOY_WINDOW,
        "skiff.bench.channel": i,
      } as grpc.ChannelOptions),
    );
  }
  return Array.from({ length: count }, (_, i) => channels[Math.floor(i / perChannel)]);
}
