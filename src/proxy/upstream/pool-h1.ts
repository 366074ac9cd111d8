// HTTP/1.1 connection pool for one host: keep-alive connections reused LIFO, with our own
// admission in front so that the cluster's max_connections / max_pending_requests
// breakers hold: a request either takes an idle connection, opens a new one if the
// cluster is under max_connections, waits in the pending queue if that has room, or
// overflows. Connections close after max_requests_per_connection requests, after
// max_connection_duration, and after idle_timeout without a request.
//
// WHY undici: each connection is one undici `Client` (pipelining 1) over a socket we open
// ourselves (openConnection: breaker and cx stats, TLS, connect timeout), driven through
// its dispatch/handler API. Node's http.Agent + ClientRequest cost about three times as
// much CPU per request (addRequest, ClientRequest, header validation, socketOnData: the
// largest block of the sidecar's profile; docs/performance.md, "Proxy hot path").
// WebSocket upgrades keep node:http (a connection of their own that leaves the pool).
import http from "node:http";
import type net from "node:net";
import { PassThrough, Readable } from "node:stream";
// Only the Client module, not undici's index (fetch, WebSocket, cache: ≈ 3 MB more heap).
import Client from "undici/lib/dispatcher/client.js";
import type { Dispatcher, Client as ClientType } from "undici";
import type { HostImpl } from "./host.ts";
import { connectedSockets, openConnection } from "./pool.ts";
import type { ConnectionPool, PoolOwner } from "./pool.ts";
import { PendingRequests } from "./pending-requests.ts";
import type { UpstreamHttpRequest, UpstreamHttpResult } from "./types.ts";

/** Envoy's default idle_timeout for upstream connections (1 h) when the cluster sets none. */
const defaultIdleTimeoutMs = 3_600_000;

/**
 * Request headers undici refuses or owns: connection-specific ones (the router already
 * drops them but keeps `te: trailers` for gRPC; other callers may not), `host` (we send
 * the authority), and `expect`:
 * Envoy answers `100-continue` itself and does not forward Expect (node's server sent the
 * 100 before the request reached us).
 */
const notForwarded = new Set(["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "host", "expect", "http2-settings"]);

/** Response headers whose duplicates node:http (and so the old pool) discards. */
const firstValueOnly = new Set([
  "content-type", "content-length", "user-agent", "referer", "host", "authorization", "proxy-authorization",
  "if-modified-since", "if-unmodified-since", "from", "location", "max-forwards", "retry-after", "etag",
  "last-modified", "server", "age", "expires",
]);

/** undici's raw header list → node:http's IncomingHttpHeaders (lower-case, duplicates joined as node does). */
function headerObject(raw: Buffer[] | string[] | null): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  if (!raw) return out;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const key = raw[i].toString("latin1").toLowerCase();
    const value = raw[i + 1].toString("latin1");
    const prev = out[key];
    if (prev === undefined) out[key] = key === "set-cookie" ? [value] : value;
    else if (key === "set-cookie") (prev as string[]).push(value);
    else if (firstValueOnly.has(key)) continue;
    else out[key] = `${prev as string}${key === "cookie" ? "; " : ", "}${value}`;
  }
  return out;
}

/** One upstream connection: an undici Client over one socket of ours. */
class H1Connection {
  readonly client: ClientType;
  socket: net.Socket | undefined = undefined;
  requests = 0;
  busy = false;
  /** max_connection_duration passed: close once idle. */
  expired = false;
  /** The socket closed (or we closed it): never dispatch here again. */
  dead = false;

  constructor(private readonly pool: Http1Pool, origin: string, idleTimeoutMs: number) {
    this.client = new Client(origin, {
      connect: (_opts, cb) => pool.connect(this, cb as (err: Error | null, socket: net.Socket | null) => void),
      pipelining: 1,
      // Timeouts are the router's (route and per-try) and ours (idle, duration); undici's
      // defaults (300 s headers/body) would add limits Envoy does not have.
      headersTimeout: 0,
      bodyTimeout: 0,
      keepAliveTimeout: idleTimeoutMs,
      keepAliveMaxTimeout: idleTimeoutMs,
    });
    this.client.on("disconnect", (_origin: unknown, _targets: unknown, err: Error & { code?: string }) => {
      // undici closes a connection that sat idle for keepAliveTimeout: Envoy's idle_timeout.
      if (!this.busy && err?.code === "UND_ERR_INFO" && err.message === "socket idle timeout") pool.owner.stats.upstream_cx_idle_timeout++;
    });
    // Errors reach the request handlers; a Client without a request must not crash the process.
    this.client.on("connectionError", () => {});
  }

  close(): void {
    this.dead = true;
    this.client.destroy().catch(() => {});
  }
}

/** The dispatch handler of one request: turns undici's callbacks into an UpstreamHttpResult. */
class H1Exchange implements Dispatcher.DispatchHandler {
  private abortUpstream: ((err?: Error) => void) | undefined = undefined;
  private settled = false;
  private finished = false;
  private complete = false;
  private cancelled = false;
  private body: UpstreamBody | undefined = undefined;
  private resumeUpstream: (() => void) | undefined = undefined;
  private trailerMap: Record<string, string> = {};
  readonly onCancel = (): void => this.cancel();

  constructor(
    private readonly pool: Http1Pool,
    private readonly conn: H1Connection,
    private readonly req: UpstreamHttpRequest,
    private readonly done: () => void,
    private readonly resolve: (r: UpstreamHttpResult) => void,
  ) {}

  private settle(result: UpstreamHttpResult): void {
    if (this.settled) return;
    this.settled = true;
    this.req.signal?.removeEventListener("abort", this.onCancel);
    this.resolve(result);
  }

  /** The request is over for the cluster (max_requests slot) and, when reusable, for the connection. */
  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.done();
    this.pool.release(this.conn);
  }

  private cancel(): void {
    if (this.settled || this.cancelled) return;
    this.cancelled = true;
    this.pool.owner.stats.upstream_rq_cancelled++;
    this.settle({ kind: "failure", failure: "aborted", host: this.pool.host, detail: "request cancelled" });
    // The connection cannot be reused mid-request: undici closes it and calls onError.
    this.abortUpstream?.(new Error("request cancelled"));
  }

  onConnect(abort: (err?: Error) => void): void {
    this.abortUpstream = abort;
    if (this.cancelled) abort(new Error("request cancelled"));
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void): boolean {
    if (statusCode < 200) return true; // 1xx informational (103 Early Hints): not forwarded
    this.resumeUpstream = resume;
    this.body = new UpstreamBody(this);
    this.settle({ kind: "response", host: this.pool.host, status: statusCode, headers: headerObject(rawHeaders), body: this.body, protocol: "h1", trailers: this.trailers });
    return true;
  }

  onData(chunk: Buffer): boolean {
    // false pauses undici until the body is read again (UpstreamBody._read → resume).
    return this.body ? this.body.push(chunk) : true;
  }

  onComplete(trailers: string[] | null): void {
    this.complete = true;
    if (trailers && trailers.length > 0) this.trailerMap = headerObject(trailers) as Record<string, string>;
    this.body?.push(null);
    // After undici has finished with the message (it may close the socket right after this
    // callback: `connection: close`), so release() sees whether the connection lives on.
    queueMicrotask(() => this.finish());
  }

  onError(err: Error): void {
    const connected = this.conn.socket !== undefined && connectedSockets.has(this.conn.socket);
    const stats = this.pool.owner.stats;
    if (!this.settled) {
      if (!connected) this.settle({ kind: "failure", failure: "connect", host: this.pool.host, detail: err.message, responseFlag: "UF" });
      else {
        stats.upstream_rq_rx_reset++;
        this.settle({ kind: "failure", failure: "reset", host: this.pool.host, detail: err.message, responseFlag: "UC" });
      }
    } else if (this.body && !this.complete) {
      // Reset mid-body (or the reader went away): the router sees the body fail (UR).
      stats.upstream_rq_rx_reset++;
      this.complete = true;
      this.body.destroy(err);
    }
    this.finish();
  }

  onUpgrade(): void {
    // Upgrades go through node:http (Http1Pool.upgrade); undici never sees one.
  }

  readonly trailers = (): Record<string, string> => this.trailerMap;

  /** The body's reader wants more. */
  read(): void {
    this.resumeUpstream?.();
  }

  /** The body was destroyed before its end (the downstream left): stop the upstream response. */
  bodyDestroyed(): void {
    if (!this.complete) this.abortUpstream?.(new Error("response body discarded"));
  }
}

/** The upstream response body as a Readable: pushes what undici hands over, pauses undici on back-pressure. */
class UpstreamBody extends Readable {
  constructor(private readonly exchange: H1Exchange) {
    super();
  }

  override _read(): void {
    this.exchange.read();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.exchange.bodyDestroyed();
    cb(err);
  }
}

export class Http1Pool implements ConnectionPool {
  private connections = 0;
  closing = false;
  /** Idle connections, most recently used last (LIFO reuse, as the old Agent's scheduling). */
  private readonly idle: H1Connection[] = [];
  private readonly all = new Set<H1Connection>();
  private readonly upgraded = new Set<net.Socket>();
  private readonly pending: PendingRequests;
  private readonly origin: string;
  private readonly idleTimeoutMs: number;

  constructor(readonly host: HostImpl, readonly owner: PoolOwner) {
    this.pending = new PendingRequests(host, owner);
    // Only the Client's bookkeeping uses the origin: we hand it our own sockets and send our own Host.
    this.origin = `http://${host.address.includes(":") ? `[${host.address}]` : host.address}:${host.port}`;
    this.idleTimeoutMs = owner.idleTimeoutMs > 0 ? owner.idleTimeoutMs : defaultIdleTimeoutMs;
  }

  get activeConnections(): number {
    return this.connections;
  }

  private canDispatch(): boolean {
    return this.idle.length > 0 || this.owner.breaker.canConnect();
  }

  request(req: UpstreamHttpRequest, done: () => void): Promise<UpstreamHttpResult> {
    if (req.upgrade) return this.upgrade(req, done);
    if (this.closing || this.canDispatch()) return this.dispatch(req, done);
    return this.pending.admit(req, done, () => this.dispatch(req, done));
  }

  failPending(): void {
    this.pending.failAll();
  }

  drainQueue(): void {
    this.pending.drain(() => this.canDispatch());
  }

  close(force = false): void {
    this.closing = true;
    if (force) {
      this.failPending();
      for (const c of [...this.all]) c.close();
      for (const s of this.upgraded) s.destroy();
      return;
    }
    // Idle connections go now; busy ones close when their request ends (release).
    for (const c of this.idle.splice(0)) c.close();
  }

  /** undici's connector for `conn`: a socket of ours, handed over once it is connected. */
  connect(conn: H1Connection, cb: (err: Error | null, socket: net.Socket | null) => void): void {
    this.connections++;
    const socket = openConnection(this.host, this.owner, () => {
      this.connections--;
      if (conn.socket !== socket) return;
      conn.dead = true;
      const i = this.idle.indexOf(conn);
      if (i >= 0) this.idle.splice(i, 1);
      if (!conn.busy) this.forget(conn);
    });
    conn.socket = socket;
    this.owner.stats.upstream_cx_http1_total++;
    const ready = this.host.tls ? "secureConnect" : "connect";
    const onReady = (): void => {
      socket.off("error", onError);
      cb(null, socket);
    };
    const onError = (err: Error): void => {
      socket.off(ready, onReady);
      cb(err, null);
    };
    socket.once(ready, onReady);
    socket.once("error", onError);
    const maxAge = this.owner.maxConnectionDurationMs;
    if (maxAge > 0) {
      // max_connection_duration: an idle connection closes now, a busy one after its request.
      const timer = setTimeout(() => {
        conn.expired = true;
        if (!conn.busy) {
          const i = this.idle.indexOf(conn);
          if (i >= 0) this.idle.splice(i, 1);
          this.forget(conn);
        }
      }, maxAge);
      timer.unref();
      socket.once("close", () => clearTimeout(timer));
    }
  }

  private forget(conn: H1Connection): void {
    this.all.delete(conn);
    conn.close();
  }

  /** A request on `conn` is over: back to the idle list, or closed (limits, draining, dead socket). */
  release(conn: H1Connection): void {
    conn.busy = false;
    const max = this.owner.maxRequestsPerConnection;
    if (conn.dead || conn.socket?.destroyed) {
      this.forget(conn);
    } else if (max > 0 && conn.requests >= max) {
      this.owner.stats.upstream_cx_max_requests++;
      this.forget(conn);
    } else if (this.closing || conn.expired) {
      this.forget(conn);
    } else {
      this.idle.push(conn);
    }
    this.drainQueue();
  }

  private dispatch(req: UpstreamHttpRequest, done: () => void): Promise<UpstreamHttpResult> {
    if (req.signal?.aborted) {
      done();
      return Promise.resolve({ kind: "failure", failure: "aborted", host: this.host, detail: "request cancelled before it was sent" });
    }
    let conn = this.idle.pop();
    if (!conn) {
      conn = new H1Connection(this, this.origin, this.idleTimeoutMs);
      this.all.add(conn);
    }
    conn.busy = true;
    conn.requests++;
    const headers: string[] = [];
    const h = req.headers;
    for (const key in h) {
      const v = h[key];
      if (v === undefined || notForwarded.has(key)) continue;
      if (Array.isArray(v)) for (const one of v) headers.push(key, one);
      else headers.push(key, typeof v === "string" ? v : String(v));
    }
    headers.push("host", req.authority);
    // undici destroys a body stream whose request fails; the downstream request must
    // survive that (the router still answers 503 on it, or replays it from its tee).
    let body: Readable | null = null;
    if (req.body) {
      const copy = new PassThrough();
      req.body.pipe(copy);
      body = copy;
    }
    const c = conn;
    return new Promise((resolve) => {
      const exchange = new H1Exchange(this, c, req, done, resolve);
      req.signal?.addEventListener("abort", exchange.onCancel, { once: true });
      c.client.dispatch({ method: req.method, path: req.path, headers, body }, exchange);
    });
  }

  /** WebSocket and other upgrades: node:http on a connection of its own, which leaves the pool on 101. */
  private upgrade(req: UpstreamHttpRequest, done: () => void): Promise<UpstreamHttpResult> {
    const host = this.host;
    const stats = this.owner.stats;
    return new Promise((resolve) => {
      let settled = false;
      let finished = false;
      const finish = (): void => {
        if (!finished) {
          finished = true;
          done();
        }
      };
      const settle = (result: UpstreamHttpResult): void => {
        if (!settled) {
          settled = true;
          resolve(result);
        }
      };
      if (req.signal?.aborted) {
        finish();
        settle({ kind: "failure", failure: "aborted", host, detail: "request cancelled before it was sent" });
        return;
      }
      let socket: net.Socket | undefined;
      const createConnection = (): net.Socket => {
        this.connections++;
        socket = openConnection(host, this.owner, () => this.connections--);
        stats.upstream_cx_http1_total++;
        return socket;
      };
      const creq = http.request({ method: req.method, path: req.path, headers: { ...req.headers, host: req.authority }, createConnection });
      const onAbort = (): void => {
        stats.upstream_rq_cancelled++;
        creq.destroy();
        settle({ kind: "failure", failure: "aborted", host, detail: "request cancelled" });
        finish();
      };
      req.signal?.addEventListener("abort", onAbort, { once: true });
      const cleanup = (): void => req.signal?.removeEventListener("abort", onAbort);
      creq.on("response", (res) => {
        res.on("end", () => {
          cleanup();
          finish();
        });
        res.on("close", () => {
          cleanup();
          if (!res.complete) stats.upstream_rq_rx_reset++;
          finish();
        });
        settle({ kind: "response", host, status: res.statusCode ?? 502, headers: res.headers, body: res, protocol: "h1", trailers: () => res.trailers as Record<string, string> });
      });
      creq.on("upgrade", (res, upSocket, head) => {
        cleanup();
        this.upgraded.add(upSocket);
        upSocket.once("close", () => this.upgraded.delete(upSocket));
        finish();
        settle({ kind: "upgrade", host, status: 101, headers: res.headers, socket: upSocket, head });
      });
      creq.on("error", (err: NodeJS.ErrnoException) => {
        cleanup();
        finish();
        if (settled) return;
        if (socket === undefined || !connectedSockets.has(socket)) {
          settle({ kind: "failure", failure: "connect", host, detail: err.message, responseFlag: "UF" });
        } else {
          stats.upstream_rq_rx_reset++;
          settle({ kind: "failure", failure: "reset", host, detail: err.message, responseFlag: "UC" });
        }
      });
      if (req.body) req.body.pipe(creq);
      else creq.end();
    });
  }
}
