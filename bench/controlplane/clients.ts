// Simulated sidecars: one ADS stream each (state of the world), subscribing CDS and LDS
// wildcard, then EDS for the EDS clusters and RDS for the route configurations the
// listeners name, as Skiff's proxy and Envoy do, ACKing every response. Many streams in
// one process: responses are decoded only as far as needed (the envelope; resources only
// to learn EDS/RDS names, and that once per distinct version since versions are content
// hashes).
import * as grpc from "@grpc/grpc-js";
import { encodeMessage, decodeAny, TypeUrl } from "../../src/envoy/index.ts";

const PATH = "/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources";
const REQUEST = "envoy.service.discovery.v3.DiscoveryRequest";

interface Raw {
  bytes: number;
  version_info: string;
  type_url: string;
  nonce: string;
  /** The Any resources, parsed only when their names are needed (once per version). */
  resources(): Array<{ type_url: string; value: Uint8Array }>;
}

// ---------------------------------------------------------------- protobuf wire, by hand
// 2,000 simulated proxies in one process receive gigabytes; decoding every response into
// objects (as a generic protobuf decoder does) made this process, not the control plane,
// the bottleneck. The envelope is read field by field and resources are only sliced.

function varintAt(buf: Uint8Array, pos: number): [number, number] {
  let value = 0;
  let mul = 1;
  for (;;) {
    const b = buf[pos++];
    value += (b & 0x7f) * mul;
    if (b < 0x80) return [value, pos];
    mul *= 128;
  }
}

/** Calls `onField(number, start, end)` for each length-delimited field; skips the rest. */
function scanFields(buf: Uint8Array, start: number, end: number, onField: (n: number, s: number, e: number) => void): void {
  let pos = start;
  while (pos < end) {
    let key: number;
    [key, pos] = varintAt(buf, pos);
    const wire = key & 7;
    if (wire === 0) [, pos] = varintAt(buf, pos);
    else if (wire === 1) pos += 8;
    else if (wire === 5) pos += 4;
    else if (wire === 2) {
      let len: number;
      [len, pos] = varintAt(buf, pos);
      onField(key >>> 3, pos, pos + len);
      pos += len;
    } else throw new Error(`unexpected wire type ${wire}`);
  }
}

const text = (buf: Uint8Array, s: number, e: number): string => Buffer.from(buf.buffer, buf.byteOffset + s, e - s).toString("utf8");

function readResponse(bytes: Buffer): Raw {
  let version_info = "";
  let type_url = "";
  let nonce = "";
  const ranges: [number, number][] = [];
  // DiscoveryResponse: 1 version_info, 2 resources (Any), 4 type_url, 5 nonce.
  scanFields(bytes, 0, bytes.length, (n, s, e) => {
    if (n === 1) version_info = text(bytes, s, e);
    else if (n === 2) ranges.push([s, e]);
    else if (n === 4) type_url = text(bytes, s, e);
    else if (n === 5) nonce = text(bytes, s, e);
  });
  return {
    bytes: bytes.length,
    version_info,
    type_url,
    nonce,
    resources: () =>
      ranges.map(([s, e]) => {
        const any: { type_url: string; value: Uint8Array } = { type_url: "", value: new Uint8Array() };
        scanFields(bytes, s, e, (n, fs, fe) => {
          if (n === 1) any.type_url = text(bytes, fs, fe);
          else if (n === 2) any.value = bytes.subarray(fs, fe);
        });
        return any;
      }),
  };
}

function lengthDelimited(n: number, data: Buffer): Buffer {
  const head: number[] = [(n << 3) | 2];
  let len = data.length;
  while (len > 0x7f) {
    head.push((len & 0x7f) | 0x80);
    len = Math.floor(len / 128);
  }
  head.push(len);
  return Buffer.concat([Buffer.from(head), data]);
}

/** resource_names (field 3) of a name list, encoded once per list (ACKs repeat the whole list). */
const namesField = new WeakMap<string[], Buffer>();

/** A DiscoveryRequest without node: 1 version_info, 3 resource_names, 4 type_url, 5 response_nonce. */
function encodeRequest(req: { version_info?: string; resource_names?: string[]; type_url: string; response_nonce?: string }): Buffer {
  const parts: Buffer[] = [];
  if (req.version_info) parts.push(lengthDelimited(1, Buffer.from(req.version_info)));
  if (req.resource_names?.length) {
    let names = namesField.get(req.resource_names);
    if (!names) {
      names = Buffer.concat(req.resource_names.map((name) => lengthDelimited(3, Buffer.from(name))));
      namesField.set(req.resource_names, names);
    }
    parts.push(names);
  }
  parts.push(lengthDelimited(4, Buffer.from(req.type_url)));
  if (req.response_nonce) parts.push(lengthDelimited(5, Buffer.from(req.response_nonce)));
  return Buffer.concat(parts);
}

const TYPES = [TypeUrl.cluster, TypeUrl.listener, TypeUrl.endpoint, TypeUrl.route] as const;

/** EDS/RDS names learnt from a CDS/LDS response, by type and version. */
const namesCache = new Map<string, string[]>();

/** Equal name lists as one array: held once, and their ACK encoding is built once. */
const lists = new Map<string, string[]>();
function intern(names: string[]): string[] {
  const key = names.join("\n");
  const known = lists.get(key);
  if (known) return known;
  lists.set(key, names);
  return names;
}

/** Cluster (envoy.config.cluster.v3): 1 name, 2 type (EDS = 3), 3 eds_cluster_config { 2 service_name }. */
function edsNameOf(value: Uint8Array): string | undefined {
  let name = "";
  let service = "";
  let eds = false;
  let pos = 0;
  while (pos < value.length) {
    let key: number;
    [key, pos] = varintAt(value, pos);
    const wire = key & 7;
    const field = key >>> 3;
    if (wire === 0) {
      let v: number;
      [v, pos] = varintAt(value, pos);
      if (field === 2) eds = v === 3;
    } else if (wire === 1) pos += 8;
    else if (wire === 5) pos += 4;
    else {
      let len: number;
      [len, pos] = varintAt(value, pos);
      if (field === 1) name = text(value, pos, pos + len);
      else if (field === 3) scanFields(value, pos, pos + len, (n, s, e) => n === 2 && (service = text(value, s, e)));
      pos += len;
    }
  }
  return eds ? service || name : undefined;
}

function edsNames(r: Raw): string[] {
  const key = `${r.type_url}|${r.version_info}`;
  let names = namesCache.get(key);
  if (!names) {
    // Read by hand, as the few fields Envoy needs to know what to ask EDS for: versions
    // differ per proxy (its own inbound clusters), so this runs for every proxy's CDS.
    names = intern(r.resources().flatMap((any) => edsNameOf(any.value) ?? []).sort());
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
    for (const any of r.resources()) collectRouteNames(decodeAny(any as never), set);
    names = intern([...set].sort());
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
      // subscriptions are plain fields, written by hand (see encodeRequest).
      (req: Record<string, unknown>) => (req.node ? encodeMessage(REQUEST, req) : encodeRequest(req as Parameters<typeof encodeRequest>[0])),
      readResponse,
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
