// HTTP/2 pool for one host (h2c, or h2 over TLS): one multiplexed session, opened on first
// use (if the cluster is under max_connections; otherwise requests wait in the pending
// queue), another one only when every session has max_concurrent_streams active streams;
// a session is replaced when it closes, goes away or has served max_requests_per_connection
// streams, and closed after idle_timeout without streams.
import http2 from "node:http2";
import type net from "node:net";
import type { OutgoingHttpHeaders } from "node:http";
import type { HostImpl } from "./host.ts";
import { HOP_BY_HOP, connectedSockets, openConnection } from "./pool.ts";
import type { ConnectionPool, PoolOwner } from "./pool.ts";
import { PendingRequests } from "./pending-requests.ts";
import type { UpstreamHttpRequest, UpstreamHttpResult } from "./types.ts";

interface Session {
  session: http2.ClientHttp2Session;
  socket: net.Socket;
  streams: number;
  active: number;
  draining: boolean;
}

export class Http2Pool implements ConnectionPool {
  private readonly all = new Set<Session>();
  private closed = false;

  private readonly pending: PendingRequests;

  constructor(private readonly host: HostImpl, private readonly owner: PoolOwner) {
    this.pending = new PendingRequests(host, owner);
  }

  get activeConnections(): number {
    return this.all.size;
  }

  private usable(): Session | undefined {
    const max = this.owner.maxConcurrentStreams;
    for (const s of this.all) {
      if (s.draining || s.session.closed || s.session.destroyed) continue;
      if (max > 0 && s.active >= max) continue;
      return s;
    }
    return undefined;
  }

  private canDispatch(): boolean {
    return this.usable() !== undefined || this.owner.breaker.canConnect();
  }

  private open(): Session {
    const socket = openConnection(this.host, this.owner, () => {}, this.owner.connectTimeoutMs, true);
    this.owner.stats.upstream_cx_http2_total++;
    const session = http2.connect(`${this.host.tls ? "https" : "http"}://${this.host.key}`, { createConnection: () => socket });
    const s: Session = { session, socket, streams: 0, active: 0, draining: false };
    this.all.add(s);
    session.on("error", () => {
      /* reported on each stream */
    });
    session.on("goaway", () => {
      s.draining = true;
    });
    session.on("close", () => {
      this.all.delete(s);
      if (!socket.destroyed) socket.destroy();
      this.drainQueue();
    });
    if (this.owner.maxConnectionDurationMs > 0) {
      // max_connection_duration: stop using the session; it closes when its streams finish.
      const timer = setTimeout(() => {
        s.draining = true;
        session.close();
      }, this.owner.maxConnectionDurationMs);
      timer.unref();
      session.once("close", () => clearTimeout(timer));
    }
    if (this.owner.idleTimeoutMs > 0) {
      session.setTimeout(this.owner.idleTimeoutMs, () => {
        if (s.active === 0) {
          this.owner.stats.upstream_cx_idle_timeout++;
          session.close();
        }
      });
    }
    return s;
  }

  request(req: UpstreamHttpRequest, done: () => void): Promise<UpstreamHttpResult> {
    if (this.closed || this.canDispatch()) return this.dispatch(req, done);
    return this.pending.admit(req, done, () => this.dispatch(req, done));
  }

  failPending(): void {
    this.pending.failAll();
  }

  drainQueue(): void {
    this.pending.drain(() => this.canDispatch());
  }

  close(force = false): void {
    this.closed = true;
    if (force) this.failPending();
    for (const s of this.all) {
      if (force || s.active === 0) s.session.destroy();
      else s.session.close();
    }
  }

  private dispatch(req: UpstreamHttpRequest, done: () => void): Promise<UpstreamHttpResult> {
    const host = this.host;
    const stats = this.owner.stats;
    const s = this.usable() ?? this.open();
    s.streams++;
    s.active++;
    const max = this.owner.maxRequestsPerConnection;
    if (max > 0 && s.streams >= max) {
      // This session takes no more streams; it closes once its streams finish.
      s.draining = true;
      stats.upstream_cx_max_requests++;
      s.session.close();
    }
    return new Promise((resolve) => {
      let settled = false;
      let finished = false;
      const finish = () => {
        if (finished) return;
        finished = true;
        s.active--;
        done();
        this.drainQueue();
      };
      const settle = (r: UpstreamHttpResult) => {
        if (!settled) {
          settled = true;
          resolve(r);
        }
      };
      if (req.signal?.aborted) {
        finish();
        settle({ kind: "failure", failure: "aborted", host, detail: "request cancelled before it was sent" });
        return;
      }
      const headers: OutgoingHttpHeaders = {
        ":method": req.method,
        ":path": req.path,
        ":authority": req.authority,
        ":scheme": this.host.tls ? "https" : "http",
      };
      for (const [k, v] of Object.entries(req.headers)) {
        if (v !== undefined && !HOP_BY_HOP.has(k.toLowerCase())) headers[k.toLowerCase()] = v;
      }
      if (req.headers.te === "trailers") headers.te = "trailers";
      let stream: http2.ClientHttp2Stream;
      try {
        stream = s.session.request(headers, { endStream: !req.body });
      } catch (e) {
        finish();
        settle({ kind: "failure", failure: "reset", host, detail: (e as Error).message, responseFlag: "UR" });
        return;
      }
      let trailers: Record<string, string> = {};
      const onAbort = () => {
        stats.upstream_rq_cancelled++;
        stream.close(http2.constants.NGHTTP2_CANCEL);
        settle({ kind: "failure", failure: "aborted", host, detail: "request cancelled" });
        finish();
      };
      req.signal?.addEventListener("abort", onAbort, { once: true });
      stream.on("response", (h) => {
        const status = Number(h[":status"] ?? 502);
        const out: Record<string, string | string[] | undefined> = {};
        for (const [k, v] of Object.entries(h)) if (!k.startsWith(":")) out[k] = v as string | string[];
        settle({ kind: "response", host, status, headers: out, body: stream, protocol: "h2", trailers: () => trailers });
      });
      stream.on("trailers", (t) => {
        trailers = {};
        for (const [k, v] of Object.entries(t)) if (!k.startsWith(":")) trailers[k] = String(v);
      });
      stream.on("error", () => {
        /* classified on close */
      });
      stream.on("close", () => {
        req.signal?.removeEventListener("abort", onAbort);
        finish();
        if (settled) {
          if (stream.rstCode !== http2.constants.NGHTTP2_NO_ERROR && stream.rstCode !== undefined && !stream.readableEnded) stats.upstream_rq_rx_reset++;
          return;
        }
        if (!connectedSockets.has(s.socket)) {
          settle({ kind: "failure", failure: "connect", host, detail: `connection to ${host.key} failed`, responseFlag: "UF" });
        } else if (stream.rstCode === http2.constants.NGHTTP2_REFUSED_STREAM) {
          stats.upstream_rq_rx_reset++;
          settle({ kind: "failure", failure: "refused_stream", host, detail: "upstream refused the stream (REFUSED_STREAM)", responseFlag: "UR" });
        } else {
          stats.upstream_rq_rx_reset++;
          settle({ kind: "failure", failure: "reset", host, detail: `upstream reset the stream (code ${stream.rstCode})`, responseFlag: "UR" });
        }
      });
      if (req.body) req.body.pipe(stream);
    });
  }
}
