// The embedded trace store's HTTP face: Zipkin v2 ingestion (POST /api/v2/spans),
// OTLP/HTTP JSON ingestion (POST /v1/traces), and Zipkin's v2 query API, so Zipkin's
// UI conventions and any Zipkin client can read what Skiff's proxies export.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { fromOtlpJson, fromZipkinJson, SpanDecodeError } from "../tracing/wire.ts";
import { TraceStore, type TraceQuery, type TraceStoreOptions } from "./store.ts";

export interface TraceStoreServerOptions extends TraceStoreOptions {
  port?: number;
  host?: string;
  /** Request bodies larger than this are refused with 413. Default 16 MiB. */
  maxBodyBytes?: number;
}

export interface RunningTraceStore {
  store: TraceStore;
  server: Server;
  port: number;
  /** Base URL, e.g. http://127.0.0.1:9411 */
  url: string;
  close(): Promise<void>;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = typeof body === "string" ? body : JSON.stringify(body);
  res.writeHead(status, {
    "content-type": typeof body === "string" ? "text/plain; charset=utf-8" : "application/json",
    "content-length": Buffer.byteLength(text),
  });
  res.end(text);
}

function readBody(req: IncomingMessage, limit: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        reject(new HttpError(413, `body larger than ${limit} bytes`));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

function numberParam(params: URLSearchParams, name: string): number | undefined {
  const v = params.get(name);
  if (v === null || v === "") return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new HttpError(400, `query parameter ${name}=${v} must be a non-negative number`);
  return n;
}

export function traceStoreHandler(store: TraceStore, maxBodyBytes = 16 * 1024 * 1024) {
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    try {
      const url = new URL(req.url ?? "/", "http://localhost");
      const path = url.pathname;
      if (req.method === "POST" && (path === "/api/v2/spans" || path === "/v1/traces")) {
        const type = (req.headers["content-type"] ?? "application/json").toLowerCase();
        if (!type.includes("json")) {
          throw new HttpError(415, `content-type ${type} is not supported; send JSON (Zipkin v2 JSON, or OTLP/HTTP with application/json)`);
        }
        const text = await readBody(req, maxBodyBytes);
        let body: unknown;
        try {
          body = text === "" ? (path === "/v1/traces" ? {} : []) : JSON.parse(text);
        } catch (err) {
          throw new HttpError(400, `body is not JSON: ${(err as Error).message}`);
        }
        const spans = path === "/v1/traces" ? fromOtlpJson(body) : fromZipkinJson(body);
        store.add(spans);
        if (path === "/v1/traces") send(res, 200, {});
        else {
          res.writeHead(202);
          res.end();
        }
        return;
      }
      if (req.method !== "GET") throw new HttpError(405, `${req.method} ${path} is not supported`);
      if (path === "/api/v2/services") return send(res, 200, store.services());
      if (path === "/api/v2/spans") {
        const svc = url.searchParams.get("serviceName");
        if (!svc) throw new HttpError(400, "serviceName is required, e.g. /api/v2/spans?serviceName=sa-webapp.default");
        return send(res, 200, store.spanNames(svc));
      }
      if (path === "/api/v2/traces") {
        const p = url.searchParams;
        const q: TraceQuery = {
          serviceName: p.get("serviceName") ?? undefined,
          spanName: p.get("spanName") ?? undefined,
          annotationQuery: p.get("annotationQuery") ?? undefined,
          minDuration: numberParam(p, "minDuration"),
          maxDuration: numberParam(p, "maxDuration"),
          endTs: numberParam(p, "endTs"),
          lookback: numberParam(p, "lookback"),
          limit: numberParam(p, "limit"),
        };
        if (q.endTs !== undefined && q.lookback === undefined) q.lookback = 86_400_000;
        return send(res, 200, store.query(q));
      }
      const m = /^\/api\/v2\/trace\/([0-9a-fA-F]{16}|[0-9a-fA-F]{32})$/.exec(path);
      if (m) {
        const t = store.trace(m[1]);
        if (!t) throw new HttpError(404, `trace ${m[1]} not found`);
        return send(res, 200, t);
      }
      if (path === "/health" || path === "/healthz") return send(res, 200, { status: "UP" });
      throw new HttpError(404, `no such endpoint: ${path}`);
    } catch (err) {
      if (err instanceof HttpError) return send(res, err.status, err.message + "\n");
      if (err instanceof SpanDecodeError) return send(res, 400, err.message + "\n");
      send(res, 500, `internal error: ${(err as Error).message}\n`);
    }
  };
}

/** Starts the trace store; port 0 picks a free port (see .port). Default host 127.0.0.1. */
export async function startTraceStore(options: TraceStoreServerOptions = {}): Promise<RunningTraceStore> {
  const store = new TraceStore(options);
  const handler = traceStoreHandler(store, options.maxBodyBytes);
  const server = createServer((req, res) => void handler(req, res));
  const host = options.host ?? "127.0.0.1";
  await new Promise<void>((resolve, reject) => {
    server.once("error", (err: NodeJS.ErrnoException) => {
      reject(err.code === "EADDRINUSE" ? new Error(`trace store: port ${options.port} on ${host} is already in use; choose another with --port`) : err);
    });
    server.listen(options.port ?? 9411, host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    store,
    server,
    port,
    url: `http://${host.includes(":") ? `[${host}]` : host}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
