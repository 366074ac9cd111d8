// HTTP/1.1 connection pool for one host: keep-alive connections reused LIFO through a
// node:http Agent, with our own admission in front of it so that the cluster's
// max_connections / max_pending_requests breakers hold: a request either takes an idle
// connection, opens a new one if the cluster is under max_connections, waits in the pending
// queue if that has room, or overflows. Connections close after max_requests_per_connection
// requests and after idle_timeout without a request.
import http from "node:http";
import type net from "node:net";
import type { HostImpl } from "./host.ts";
import { connectedSockets, openConnection } from "./pool.ts";
import type { ConnectionPool, PoolOwner } from "./pool.ts";
import { PendingRequests } from "./pending-requests.ts";
import type { UpstreamHttpRequest, UpstreamHttpResult } from "./types.ts";

class PoolAgent extends http.Agent {
  readonly requestsPerSocket = new WeakMap<net.Socket, number>();

  constructor(private readonly pool: Http1Pool) {
    super({ keepAlive: true, maxSockets: Infinity, maxFreeSockets: Infinity, scheduling: "lifo", timeout: pool.owner.idleTimeoutMs || undefined });
  }

  override createConnection(): net.Socket {
    return this.pool.newConnection();
  }

  readonly expired = new WeakSet<net.Socket>();

  override keepSocketAlive(socket: net.Socket): boolean {
    if (this.pool.closing || this.expired.has(socket)) return false;
    const max = this.pool.owner.maxRequestsPerConnection;
    if (max > 0 && (this.requestsPerSocket.get(socket) ?? 0) >= max) {
      this.pool.owner.stats.upstream_cx_max_requests++;
      return false;
    }
    // @types/node declares this void; Node's Agent returns whether to keep the socket.
    const keep = super.keepSocketAlive(socket) as unknown as boolean | undefined;
    return keep !== false;
  }
}

export class Http1Pool implements ConnectionPool {
  private readonly agent: PoolAgent;
  private connections = 0;
  closing = false;

  private readonly pending: PendingRequests;

  constructor(private readonly host: HostImpl, readonly owner: PoolOwner) {
    this.pending = new PendingRequests(host, owner);
    this.agent = new PoolAgent(this);
    // A connection returned to the agent's free list can serve a queued request.
    this.agent.on("free", () => queueMicrotask(() => this.drainQueue()));
  }

  get activeConnections(): number {
    return this.connections;
  }

  newConnection(): net.Socket {
    this.connections++;
    const socket = openConnection(this.host, this.owner, () => {
      this.connections--;
    });
    this.owner.stats.upstream_cx_http1_total++;
    const maxAge = this.owner.maxConnectionDurationMs;
    if (maxAge > 0) {
      // max_connection_duration: an idle connection closes now, a busy one after its request.
      const timer = setTimeout(() => {
        this.agent.expired.add(socket);
        if (!this.busy.has(socket)) socket.destroy();
      }, maxAge);
      timer.unref();
      socket.once("close", () => clearTimeout(timer));
    }
    // Installed once per connection (not per request) so listeners do not pile up.
    const release = () => this.busy.delete(socket);
    socket.on("free", release);
    socket.on("close", release);
    socket.on("timeout", () => {
      // The agent destroys free sockets on timeout; count it as Envoy's idle timeout.
      if (!this.busy.has(socket)) this.owner.stats.upstream_cx_idle_timeout++;
    });
    return socket;
  }

  private readonly busy = new Set<net.Socket>();
  private readonly upgraded = new Set<net.Socket>();

  private idleCount(): number {
    let n = 0;
    for (const list of Object.values(this.agent.freeSockets)) n += list?.length ?? 0;
    return n;
  }

  private canDispatch(): boolean {
    return this.idleCount() > 0 || this.owner.breaker.canConnect();
  }

  request(req: UpstreamHttpRequest, done: () => void): Promise<UpstreamHttpResult> {
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
    if (force) this.failPending();
    if (force) {
      this.agent.destroy();
      for (const s of this.upgraded) s.destroy();
      return;
    }
    // Idle connections go now; busy ones close when their request ends (keepSocketAlive).
    for (const list of Object.values(this.agent.freeSockets)) for (const s of [...(list ?? [])]) s.destroy();
  }

  private dispatch(req: UpstreamHttpRequest, done: () => void): Promise<UpstreamHttpResult> {
    const host = this.host;
    const stats = this.owner.stats;
    return new Promise((resolve) => {
      let settled = false;
      let finished = false;
      const finish = () => {
        if (!finished) {
          finished = true;
          done();
        }
      };
      const settle = (result: UpstreamHttpResult) => {
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
      const headers = { ...req.headers, host: req.authority };
      const creq = http.request({ host: host.address, port: host.port, method: req.method, path: req.path, headers, agent: this.agent });
      let socket: net.Socket | undefined;
      creq.on("socket", (s: net.Socket) => {
        socket = s;
        this.busy.add(s);
        this.agent.requestsPerSocket.set(s, (this.agent.requestsPerSocket.get(s) ?? 0) + 1);
      });
      const onAbort = () => {
        stats.upstream_rq_cancelled++;
        creq.destroy();
        settle({ kind: "failure", failure: "aborted", host, detail: "request cancelled" });
        finish();
      };
      req.signal?.addEventListener("abort", onAbort, { once: true });
      const cleanup = () => req.signal?.removeEventListener("abort", onAbort);

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
        settle({
          kind: "response", host, status: res.statusCode ?? 502, headers: res.headers, body: res, protocol: "h1",
          trailers: () => res.trailers as Record<string, string>,
        });
      });
      creq.on("upgrade", (res, upSocket, head) => {
        cleanup();
        // The socket left the agent; remember it so a forced close still ends it.
        this.upgraded.add(upSocket);
        upSocket.once("close", () => this.upgraded.delete(upSocket));
        finish();
        settle({ kind: "upgrade", host, status: 101, headers: res.headers, socket: upSocket, head });
      });
      creq.on("error", (err: NodeJS.ErrnoException) => {
        cleanup();
        finish();
        if (settled) return;
        const connected = socket !== undefined && connectedSockets.has(socket);
        if (!connected) {
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
