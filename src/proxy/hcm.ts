// envoy.filters.network.http_connection_manager: terminates HTTP/1.1 and HTTP/2 (h2c)
// on sockets handed over by the listener, adds the proxy headers (x-request-id,
// x-forwarded-for/-proto, server), runs the HTTP filter chain and the router.
//
// WHY node:http / node:http2 servers that never listen: the listener manager owns the
// sockets (it peeks at the first bytes to pick a filter chain), then emits
// 'connection' on the right server so Node's parsers do the protocol work.
import http from "node:http";
import http2 from "node:http2";
import { randomUUID } from "node:crypto";
import type { Duplex, Readable } from "node:stream";
import type { Socket } from "node:net";
import { parseXfcc, applyXfcc, type XfccConfig } from "./xfcc.ts";
import { ConfigError, arr, num, obj, onlyFields, str, type Json } from "./json.ts";
import { RequestContextPool, ResponseFlag, type RequestContext, type RequestObserver } from "./request-context.ts";
import { RouteTable, type CompiledRoute, type CompiledVirtualHost, type MatchInput } from "./route-table.ts";
import type { Exchange, HttpFilter } from "./http-filter.ts";
import { isGrpcContent, type HeaderMap } from "./header-mutation.ts";
import { connectionFacts, createHttpFilter, routerTypeUrl, validatePerFilterConfig } from "./filters/index.ts";
import { Router, redirectLocation } from "./router.ts";
import type { ClusterManagerApi, UpstreamUpgrade } from "./upstream/index.ts";
import type { Counter, StatsRegistry } from "./stats.ts";
import { HcmTelemetry, type RequestTelemetry } from "./telemetry-hcm.ts";
import { telemetryFor } from "./telemetry-proxy.ts";
import { Cancellation } from "./cancel.ts";

export const hcmTypeUrl = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";

export const serverHeader = "skiff";

/** Where the HCM gets its routes: inline, or by name from RDS. */
export type RouteSource = { kind: "inline"; table: RouteTable } | { kind: "rds"; name: string };

export interface HcmDeps {
  routes: (name: string) => RouteTable | undefined;
  clusters: ClusterManagerApi;
  stats: StatsRegistry;
  observers: readonly RequestObserver[];
  random: () => number;
  listenerName: string;
  log?: (level: "info" | "warn" | "error", msg: string) => void;
}

interface HcmStats {
  rqTotal: Counter;
  rqActive: Counter;
  rq1xx: Counter;
  rq2xx: Counter;
  rq3xx: Counter;
  rq4xx: Counter;
  rq5xx: Counter;
  rqHttp1: Counter;
  rqHttp2: Counter;
  cxTotal: Counter;
  cxActive: Counter;
  noRoute: Counter;
  directResponse: Counter;
}

/** Validate a whole RouteConfiguration including per-filter configs (the RDS validation pass). */
export function compileRouteConfiguration(json: Json): RouteTable {
  const table = new RouteTable(json);
  arr(json.virtual_hosts).forEach((v, i) => {
    const check = (tpfc: unknown, path: string): void => {
      const o = obj(tpfc);
      if (o) for (const [k, val] of Object.entries(o)) validatePerFilterConfig(val as Json, `${path}.typed_per_filter_config.${k}`);
    };
    check(v.typed_per_filter_config, `virtual_hosts[${i}]`);
    if (v.cors) validatePerFilterConfig({ "@type": "type.googleapis.com/envoy.config.route.v3.CorsPolicy", ...(v.cors as Json) }, `virtual_hosts[${i}].cors`);
    arr(v.routes).forEach((r, j) => check(r.typed_per_filter_config, `virtual_hosts[${i}].routes[${j}]`));
  });
  return table;
}

/** A parsed HCM config: validated once per listener update. */
export interface HcmConfig {
  statPrefix: string;
  routes: RouteSource;
  filterEntries: Json[];
  useRemoteAddress: boolean;
  xffNumTrustedHops: number;
  generateRequestId: boolean;
  preserveExternalRequestId: boolean;
  stripAnyHostPort: boolean;
  websocket: boolean;
  codec: "AUTO" | "HTTP1" | "HTTP2";
  serverName: string;
  /** x-forwarded-client-cert handling (forward_client_cert_details). */
  xfcc: XfccConfig;
}

export function parseHcmConfig(json: Json, path: string, random: () => number): HcmConfig {
  onlyFields(
    json,
    path,
    [
      "stat_prefix",
      "rds",
      "route_config",
      "http_filters",
      "use_remote_address",
      "xff_num_trusted_hops",
      "generate_request_id",
      "preserve_external_request_id",
      "strip_any_host_port",
      "upgrade_configs",
      "codec_type",
      "server_name",
      "access_log",
      "tracing",
      "forward_client_cert_details",
      "set_current_client_cert_details",
    ],
    // Harmless here: normalisations Node already does, or timeouts we keep at Node's defaults.
    ["normalize_path", "merge_slashes", "path_with_escaped_slashes_action", "common_http_protocol_options", "http_protocol_options", "http2_protocol_options", "delayed_close_timeout", "request_id_extension", "internal_address_config", "server_header_transformation", "stream_idle_timeout"],
  );
  let routes: RouteSource;
  const rds = obj(json.rds);
  if (rds) {
    onlyFields(rds, `${path}.rds`, ["route_config_name", "config_source"]);
    const name = str(rds.route_config_name);
    if (!name) throw new ConfigError(`${path}.rds.route_config_name`, "is required");
    routes = { kind: "rds", name };
  } else if (obj(json.route_config)) {
    try {
      routes = { kind: "inline", table: compileRouteConfiguration(obj(json.route_config)!) };
    } catch (err) {
      if (err instanceof ConfigError) throw new ConfigError(`${path}.route_config.${err.path}`, err.reason);
      throw err;
    }
  } else throw new ConfigError(path, "HTTP connection manager needs rds or route_config (scoped_routes is not implemented)");
  const filterEntries = arr(json.http_filters);
  filterEntries.forEach((f, i) => {
    const p = `${path}.http_filters[${i}]`;
    onlyFields(f, p, ["name", "typed_config"], ["is_optional", "disabled"]);
    const type = obj(f.typed_config)?.["@type"];
    const isLast = i === filterEntries.length - 1;
    if (type === routerTypeUrl) {
      if (!isLast) throw new ConfigError(p, "the router must be the last HTTP filter");
      const { "@type": _t, ...routerConfig } = obj(f.typed_config)!;
      onlyFields(routerConfig, `${p}.typed_config`, [], ["suppress_envoy_headers", "start_child_span", "dynamic_stats"]);
    } else {
      createHttpFilter(f, p, { random }); // throws ConfigError for filters we lack
    }
  });
  if (filterEntries.length === 0 || obj(filterEntries[filterEntries.length - 1].typed_config)?.["@type"] !== routerTypeUrl)
    throw new ConfigError(`${path}.http_filters`, "the last HTTP filter must be envoy.filters.http.router");
  let websocket = false;
  arr(json.upgrade_configs).forEach((u, i) => {
    onlyFields(u, `${path}.upgrade_configs[${i}]`, ["upgrade_type", "enabled"]);
    if (String(u.upgrade_type).toLowerCase() !== "websocket")
      throw new ConfigError(`${path}.upgrade_configs[${i}].upgrade_type`, `upgrade "${String(u.upgrade_type)}" is not implemented (only websocket)`);
    websocket = u.enabled !== false;
  });
  const codec = (str(json.codec_type) ?? "AUTO") as HcmConfig["codec"];
  if (!["AUTO", "HTTP1", "HTTP2"].includes(codec)) throw new ConfigError(`${path}.codec_type`, `codec ${codec} is not implemented`);
  return {
    statPrefix: str(json.stat_prefix) ?? "",
    routes,
    filterEntries,
    useRemoteAddress: json.use_remote_address === true,
    xffNumTrustedHops: num(json.xff_num_trusted_hops) ?? 0,
    generateRequestId: json.generate_request_id !== false,
    preserveExternalRequestId: json.preserve_external_request_id === true,
    stripAnyHostPort: json.strip_any_host_port === true,
    websocket,
    codec,
    serverName: str(json.server_name) ?? serverHeader,
    xfcc: parseXfcc(json, path),
  };
}

type DownstreamRequest = http.IncomingMessage | http2.Http2ServerRequest;
type DownstreamResponse = http.ServerResponse | http2.Http2ServerResponse;

const grpcStatusForHttp: Record<number, number> = { 400: 13, 401: 16, 403: 7, 404: 12, 429: 14, 502: 14, 503: 14, 504: 14 };

/** One request in flight. Implements the filters' Exchange and the router's output side. */
export class HttpStream implements Exchange {
  method = "";
  path = "";
  authority = "";
  scheme = "http";
  headers: HeaderMap = {};
  vhost: CompiledVirtualHost | undefined = undefined;
  route: CompiledRoute | undefined = undefined;
  extraResponseHeaders: HeaderMap | undefined = undefined;
  hasBody = false;
  /** Telemetry state of this request (metadata exchange, access log, span); undefined when the HCM has none. */
  telemetry: RequestTelemetry | undefined = undefined;
  /** Aborted when the downstream goes away (a Cancellation: no AbortController per request). */
  readonly abort = new Cancellation();
  private done = false;

  constructor(
    readonly ctx: RequestContext,
    readonly req: DownstreamRequest,
    readonly res: DownstreamResponse,
    private readonly serverName: string,
    readonly upgradeSocket: Duplex | undefined,
    readonly upgradeHead: Buffer | undefined,
  ) {}

  get signal(): Cancellation {
    return this.abort;
  }

  get body(): Readable {
    return this.req as Readable;
  }

  get responded(): boolean {
    return this.done || this.res.headersSent;
  }

  private finalHeaders(headers: HeaderMap): HeaderMap {
    if (this.extraResponseHeaders) Object.assign(headers, this.extraResponseHeaders);
    this.telemetry?.onResponseHeaders(headers);
    headers.server = this.serverName;
    if (this.ctx.requestId && headers["x-request-id"] === undefined && this.isGrpc()) headers["x-request-id"] = this.ctx.requestId;
    return headers;
  }

  isGrpc(): boolean {
    return isGrpcContent(this.headers);
  }

  sendLocalReply(status: number, body: string, headers: HeaderMap = {}): void {
    if (this.responded) return;
    this.done = true;
    if (this.isGrpc() && headers["grpc-status"] === undefined) {
      // Envoy answers gRPC callers with a trailers-only response they understand.
      headers["content-type"] = "application/grpc";
      headers["grpc-status"] = String(grpcStatusForHttp[status] ?? 2);
      headers["grpc-message"] = encodeURIComponent(body);
      status = 200;
      body = "";
    }
    if (body && headers["content-type"] === undefined) headers["content-type"] = "text/plain";
    headers["content-length"] = String(Buffer.byteLength(body));
    if (this.upgradeSocket) headers.connection = "close";
    this.ctx.responseCode = status;
    (this.res as http.ServerResponse).writeHead(status, this.finalHeaders(headers) as http.OutgoingHttpHeaders);
    this.res.end(body);
  }

  /** Stream an upstream response back, trailers included (gRPC). */
  sendUpstreamResponse(status: number, headers: HeaderMap, body: Readable, trailers: () => Record<string, string>): Promise<void> {
    if (this.responded) {
      body.destroy();
      return Promise.resolve();
    }
    this.done = true;
    this.ctx.responseCode = status;
    const res = this.res;
    // A gRPC "trailers-only" upstream response carries grpc-status in its headers. Relayed
    // as headers + empty body the client would never see the status, so move it to trailers.
    let grpcTrailers: Record<string, string> | undefined;
    if (headers["grpc-status"] !== undefined && this.req.httpVersionMajor === 2) {
      grpcTrailers = {};
      for (const k of ["grpc-status", "grpc-message", "grpc-status-details-bin"]) {
        if (headers[k] !== undefined) grpcTrailers[k] = String(headers[k]);
        delete headers[k];
      }
    }
    // An HTTP/1.1 body of known length (not gRPC, whose status travels in trailers) ends
    // with the chunk that completes it: that chunk goes out with res.end(chunk), one write
    // with the end of the response instead of a write and then an empty end write. No
    // chunk is held back, so streamed bodies are not delayed.
    const clen = headers["content-length"];
    let remaining = grpcTrailers === undefined && this.req.httpVersionMajor === 1 && typeof clen === "string" && !isGrpcContent(headers) ? Number(clen) : NaN;
    if (!(remaining > 0)) remaining = NaN;
    (res as http.ServerResponse).writeHead(status, this.finalHeaders(headers) as http.OutgoingHttpHeaders);
    return new Promise((resolve) => {
      let ended = false;
      body.on("data", (chunk: Buffer) => {
        this.ctx.bytesSent += chunk.length;
        this.telemetry?.onResponseData(chunk);
        remaining -= chunk.length;
        if (remaining === 0) {
          // The last chunk: the trailers are known (an HTTP/1.1 body with a length has none).
          ended = true;
          this.telemetry?.onTrailers(trailers());
          res.end(chunk);
          return;
        }
        if (!(res as http.ServerResponse).write(chunk)) {
          body.pause();
          res.once("drain", () => body.resume());
        }
      });
      body.on("end", () => {
        if (ended) return resolve();
        const t = grpcTrailers ? { ...grpcTrailers, ...trailers() } : trailers();
        this.telemetry?.onTrailers(t);
        if (Object.keys(t).length > 0) res.addTrailers(t);
        res.end();
        resolve();
      });
      body.on("error", () => {
        // The upstream reset mid-response: Envoy resets the downstream stream too.
        this.ctx.setFlag(ResponseFlag.UR);
        res.destroy();
        resolve();
      });
      res.on("close", () => {
        if (!res.writableFinished) body.destroy();
        resolve();
      });
    });
  }

  /** WebSocket: relay the 101 and splice the two sockets. */
  sendUpgrade(result: UpstreamUpgrade): void {
    const down = this.upgradeSocket;
    if (!down) {
      result.socket.destroy();
      this.sendLocalReply(502, "upgrade on a non-upgrade request");
      return;
    }
    this.done = true;
    this.ctx.responseCode = 101;
    const lines = ["HTTP/1.1 101 Switching Protocols"];
    const headers = this.finalHeaders({ ...result.headers } as HeaderMap);
    for (const [k, v] of Object.entries(headers)) {
      if (v === undefined) continue;
      for (const one of Array.isArray(v) ? v : [v]) lines.push(`${k}: ${one}`);
    }
    down.write(lines.join("\r\n") + "\r\n\r\n");
    if (result.head.length) down.write(result.head);
    if (this.upgradeHead?.length) result.socket.write(this.upgradeHead);
    result.socket.pipe(down).pipe(result.socket);
    const close = (): void => {
      result.socket.destroy();
      down.destroy();
    };
    result.socket.on("error", close);
    down.on("error", close);
    result.socket.on("close", close);
    down.on("close", close);
  }

  finishWithoutResponse(): void {
    this.done = true;
    if (!this.res.headersSent) this.res.destroy();
  }
}

/**
 * HTTP/1.1 absolute-form request targets (`GET http://reviews:9080/a HTTP/1.1`), what
 * clients send to an HTTP proxy (process mode's HTTP_PROXY): as Envoy does, the URL's
 * authority becomes the host and the rest the path (RFC 9112 §3.2.2).
 */
function absoluteForm(s: HttpStream): void {
  const m = /^https?:\/\/([^/?#]*)([^#]*)/i.exec(s.path);
  if (!m) return;
  s.authority = m[1];
  s.headers.host = m[1];
  s.path = m[2] === "" ? "/" : m[2].startsWith("?") ? `/${m[2]}` : m[2];
}

export class HttpConnectionManager {
  readonly config: HcmConfig;
  private readonly filters: HttpFilter[];
  private readonly router: Router;
  private readonly telemetry: HcmTelemetry | undefined;
  private readonly h1: http.Server;
  private readonly h2: http2.Http2Server;
  private readonly pool = new RequestContextPool();
  private readonly stats: HcmStats;
  private readonly sessions = new Set<http2.ServerHttp2Session>();
  /** h1 sockets and how many requests each has in flight (to close only idle ones on drain). */
  private readonly h1Sockets = new Map<Socket, number>();
  private activeRequests = 0;
  private draining = false;
  private drainWaiters: Array<() => void> = [];

  constructor(
    json: Json,
    path: string,
    private readonly deps: HcmDeps,
  ) {
    this.config = parseHcmConfig(json, path, deps.random);
    this.filters = this.config.filterEntries.slice(0, -1).map((f, i) => createHttpFilter(f, `${path}.http_filters[${i}]`, { random: deps.random, stats: deps.stats, statPrefix: this.config.statPrefix, log: deps.log, clusters: deps.clusters }));
    this.router = new Router({ clusters: deps.clusters, random: deps.random });
    this.telemetry = HcmTelemetry.create(telemetryFor(deps.stats), json, path, this.filters, deps.random);
    const prefix = `http.${this.config.statPrefix}.`;
    const s = deps.stats;
    this.stats = {
      rqTotal: s.counter(`${prefix}downstream_rq_total`),
      rqActive: s.gauge(`${prefix}downstream_rq_active`),
      rq1xx: s.counter(`${prefix}downstream_rq_1xx`),
      rq2xx: s.counter(`${prefix}downstream_rq_2xx`),
      rq3xx: s.counter(`${prefix}downstream_rq_3xx`),
      rq4xx: s.counter(`${prefix}downstream_rq_4xx`),
      rq5xx: s.counter(`${prefix}downstream_rq_5xx`),
      rqHttp1: s.counter(`${prefix}downstream_rq_http1_total`),
      rqHttp2: s.counter(`${prefix}downstream_rq_http2_total`),
      cxTotal: s.counter(`${prefix}downstream_cx_total`),
      cxActive: s.gauge(`${prefix}downstream_cx_active`),
      noRoute: s.counter(`${prefix}no_route`),
      directResponse: s.counter(`${prefix}rq_direct_response`),
    };
    const handler = (req: DownstreamRequest, res: DownstreamResponse): void => {
      void this.handle(req, res, undefined, undefined);
    };
    this.h1 = http.createServer({ keepAliveTimeout: 60_000, requestTimeout: 0 }, handler);
    this.h1.on("upgrade", (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
      const res = new http.ServerResponse(req);
      res.assignSocket(socket as Socket);
      void this.handle(req, res, socket, head);
    });
    this.h1.on("clientError", (_err, socket: Duplex) => {
      if ((socket as Socket).writable) socket.end("HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n");
      else socket.destroy();
    });
    this.h2 = http2.createServer({}, handler);
    this.h2.on("session", (session: http2.ServerHttp2Session) => {
      this.sessions.add(session);
      session.on("close", () => this.sessions.delete(session));
      if (this.draining) session.close();
    });
  }

  get routeConfigName(): string | undefined {
    return this.config.routes.kind === "rds" ? this.config.routes.name : undefined;
  }

  /** Route table in effect now (RDS tables are looked up per request so updates apply at once). */
  private table(): RouteTable | undefined {
    return this.config.routes.kind === "inline" ? this.config.routes.table : this.deps.routes(this.config.routes.name);
  }

  /** Take over a socket; `http2` when the preface (or ALPN h2) says so. */
  handleConnection(socket: Socket, http2Preface: boolean): void {
    this.stats.cxTotal.value++;
    this.stats.cxActive.value++;
    socket.once("close", () => this.stats.cxActive.value--);
    const useH2 = this.config.codec === "HTTP2" || (this.config.codec === "AUTO" && http2Preface);
    if (useH2) this.h2.emit("connection", socket);
    else {
      this.h1Sockets.set(socket, 0);
      socket.once("close", () => this.h1Sockets.delete(socket));
      this.h1.emit("connection", socket);
      // The listener paused the socket to peek; Node's h1 parser needs it flowing again.
      socket.resume();
    }
  }

  private async handle(req: DownstreamRequest, res: DownstreamResponse, upgradeSocket: Duplex | undefined, upgradeHead: Buffer | undefined): Promise<void> {
    const ctx = this.pool.acquire();
    ctx.startNs = process.hrtime.bigint();
    const s = new HttpStream(ctx, req, res, this.config.serverName, upgradeSocket, upgradeHead);
    this.activeRequests++;
    this.stats.rqTotal.value++;
    this.stats.rqActive.value++;
    const isH2 = req.httpVersionMajor === 2;
    (isH2 ? this.stats.rqHttp2 : this.stats.rqHttp1).value++;
    const h1Socket = isH2 ? undefined : (req.socket as Socket);
    if (h1Socket) this.h1Sockets.set(h1Socket, (this.h1Sockets.get(h1Socket) ?? 0) + 1);
    let completed = false;
    // The context goes back to the pool only when the response is complete AND the
    // filter chain/router have returned: a router still waiting on an upstream after the
    // client left must not write into a context another request already reuses.
    let handlerDone = false;
    const complete = (): void => {
      if (completed) return;
      completed = true;
      if (!res.writableFinished && !s.responded) ctx.setFlag(ResponseFlag.DC);
      if (!s.signal.aborted && !res.writableFinished) s.abort.abort();
      ctx.endNs = process.hrtime.bigint();
      const code = ctx.responseCode;
      const bucket = code >= 500 ? this.stats.rq5xx : code >= 400 ? this.stats.rq4xx : code >= 300 ? this.stats.rq3xx : code >= 200 ? this.stats.rq2xx : this.stats.rq1xx;
      if (code > 0) bucket.value++;
      this.stats.rqActive.value--;
      if (s.telemetry) {
        this.telemetry!.complete(s, s.telemetry);
        s.telemetry = undefined;
      }
      for (const o of this.deps.observers) o(ctx);
      if (handlerDone) this.pool.release(ctx);
      this.activeRequests--;
      if (h1Socket && this.h1Sockets.has(h1Socket)) this.h1Sockets.set(h1Socket, this.h1Sockets.get(h1Socket)! - 1);
      if (this.draining) {
        // The response carried `connection: close`; finish the drain when nothing is in flight.
        this.closeIdleH1();
        if (this.activeRequests === 0) for (const w of this.drainWaiters.splice(0)) w();
      }
    };
    res.once("close", complete);
    if (upgradeSocket) upgradeSocket.once("close", complete);
    // No 'aborted' listener on req: a client that goes away also closes `res` (h1 on the
    // socket's close, h2 on the stream's), and complete() aborts the stream then.
    if (this.draining && !isH2) res.setHeader("connection", "close");

    try {
      this.prepare(s, req, isH2);
      if (this.telemetry) s.telemetry = this.telemetry.begin(s);
      await this.run(s);
    } catch (err) {
      // A bug in our code must not take the process down; answer 500 and move on.
      if (!s.responded) s.sendLocalReply(500, `internal error: ${(err as Error).message}`);
    } finally {
      handlerDone = true;
      if (completed) this.pool.release(ctx);
    }
  }

  private prepare(s: HttpStream, req: DownstreamRequest, isH2: boolean): void {
    const ctx = s.ctx;
    const headers = req.headers as HeaderMap;
    s.headers = headers;
    s.method = req.method ?? "GET";
    s.path = isH2 ? String(headers[":path"] ?? "/") : (req.url ?? "/");
    s.authority = String((isH2 ? headers[":authority"] : headers.host) ?? headers.host ?? "");
    if (!isH2 && s.path.charCodeAt(0) !== 47 /* "/" */) absoluteForm(s);
    // An HTTP/1.1 request in absolute form (`GET http://sa-logic/x`, what clients send to
    // an HTTP proxy such as the process-mode sidecar's HTTP_PROXY listener): as Envoy's
    // codec does, the URL's authority becomes the host and its path the path.
    if (!isH2 && /^https?:\/\//i.test(s.path)) {
      const url = new URL(s.path);
      s.authority = url.host;
      headers.host = url.host;
      s.path = `${url.pathname}${url.search}`;
    }
    const socket = req.socket as Socket;
    const remote = socket.remoteAddress ?? "";
    // What RBAC reads about the connection (peer, destination, SNI, SPIFFE ID).
    const facts = connectionFacts(socket);
    ctx.directRemoteAddress = facts.remoteAddress;
    ctx.downstreamLocalAddress = facts.localAddress;
    ctx.downstreamLocalPort = facts.localPort;
    ctx.peerPrincipal = facts.peerPrincipal;
    ctx.requestedServerName = facts.serverName;
    s.scheme = "http";
    ctx.protocol = isH2 ? "HTTP/2" : `HTTP/${req.httpVersion}`;
    ctx.method = s.method;
    ctx.path = s.path;
    ctx.authority = s.authority;
    ctx.listenerName = this.deps.listenerName;
    const clen = headers["content-length"];
    s.hasBody = isH2 ? !(req as http2.Http2ServerRequest).stream.endAfterHeaders : (clen !== undefined && clen !== "0") || headers["transfer-encoding"] !== undefined;

    // x-forwarded-for / downstream address: Envoy appends the peer only with use_remote_address;
    // otherwise the client is the xff_num_trusted_hops-th address from the right.
    const xff = headers["x-forwarded-for"];
    const xffText = xff === undefined ? "" : Array.isArray(xff) ? xff.join(",") : String(xff);
    if (this.config.useRemoteAddress) {
      headers["x-forwarded-for"] = xffText ? `${xffText},${remote}` : remote;
      ctx.downstreamRemoteAddress = remote;
    } else {
      const hops = xffText.split(",").map((x) => x.trim()).filter(Boolean);
      const idx = hops.length - 1 - this.config.xffNumTrustedHops;
      ctx.downstreamRemoteAddress = idx >= 0 ? hops[idx] : remote;
    }
    if (this.config.useRemoteAddress || headers["x-forwarded-proto"] === undefined) headers["x-forwarded-proto"] = s.scheme;
    applyXfcc(this.config.xfcc, headers, socket);
    let rid = headers["x-request-id"];
    if ((rid === undefined || rid === "") && this.config.generateRequestId) {
      rid = randomUUID();
      headers["x-request-id"] = rid;
    }
    ctx.requestId = rid === undefined ? "" : String(rid);
  }

  private matchInput(s: HttpStream): MatchInput {
    const q = s.path.indexOf("?");
    return {
      path: q < 0 ? s.path : s.path.slice(0, q),
      query: q < 0 ? "" : s.path.slice(q + 1),
      header: (name) => {
        if (name.charCodeAt(0) === 58) {
          if (name === ":method") return s.method;
          if (name === ":authority") return s.authority;
          if (name === ":path") return s.path;
          if (name === ":scheme") return s.scheme;
        }
        const v = s.headers[name];
        return v === undefined ? undefined : Array.isArray(v) ? v.join(",") : String(v);
      },
    };
  }

  private async run(s: HttpStream): Promise<void> {
    const ctx = s.ctx;
    const table = this.table();
    if (table) {
      ctx.routeConfigName = table.name;
      s.vhost = table.selectVirtualHost(s.authority, this.config.stripAnyHostPort);
      if (s.vhost) {
        ctx.virtualHostName = s.vhost.name;
        s.route = table.selectRoute(s.vhost, this.matchInput(s));
        if (s.route) ctx.routeName = s.route.name;
      }
    }
    if (s.upgradeSocket && !this.config.websocket) {
      s.sendLocalReply(403, "upgrade failed");
      return;
    }
    for (const f of this.filters) {
      const status = await f.onRequest(s);
      if (status === "stop" || s.responded) return;
    }
    // The router.
    const route = s.route;
    if (!table || !route) {
      ctx.setFlag(ResponseFlag.NR);
      this.stats.noRoute.value++;
      s.sendLocalReply(404, "");
      return;
    }
    const action = route.action;
    if (action.kind === "direct") {
      this.stats.directResponse.value++;
      const h: HeaderMap = {};
      route.responseHeaders.apply(h);
      s.vhost!.responseHeaders.apply(h);
      table.responseHeaders.apply(h);
      s.body.resume();
      s.sendLocalReply(action.status, action.body ?? "", h);
      return;
    }
    if (action.kind === "redirect") {
      s.body.resume();
      s.sendLocalReply(action.status, "", { location: redirectLocation(s, route, action) });
      return;
    }
    await this.router.route(s, table, route, action);
  }

  /**
   * Graceful drain: h2 sessions get GOAWAY, idle h1 connections close, busy ones close
   * after their response. Resolves when no request is in flight (or after `timeoutMs`).
   */
  drain(timeoutMs: number): Promise<void> {
    this.draining = true;
    for (const s of this.sessions) s.close();
    this.closeIdleH1();
    if (this.activeRequests === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const t = setTimeout(resolve, timeoutMs);
      t.unref();
      this.drainWaiters.push(() => {
        clearTimeout(t);
        resolve();
      });
    });
  }

  private closeIdleH1(): void {
    for (const [sock, active] of this.h1Sockets) if (active === 0) sock.destroy();
  }

  /** Close everything now (after drain or at shutdown). */
  close(): void {
    this.draining = true;
    for (const s of this.sessions) s.destroy();
    for (const sock of this.h1Sockets.keys()) sock.destroy();
  }
}
