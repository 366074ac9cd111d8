// A small outbound HTTP/1.1 client on node:http that honours HTTP_PROXY / NO_PROXY.
// Node's fetch ignores those variables, and the mesh's process mode depends on them:
// with a proxy the request line carries the absolute URI
// (`POST http://sa-logic/analyse/sentiment HTTP/1.1`, Host: sa-logic), so the sidecar
// routes by the service name the app used, exactly as it would after iptables capture.
import http from "node:http";
import { proxyFor, type ProxyEnv } from "./proxy-env.ts";

export interface OutboundRequest {
  method: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** Give up after this long without a complete response (default 10 s). */
  timeoutMs?: number;
  /** The environment to read proxy settings from (default process.env). */
  env?: ProxyEnv;
}

export interface OutboundResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** Thrown when no response arrived in time, so callers can answer 504 rather than 502. */
export class OutboundTimeoutError extends Error {}

const MAX_RESPONSE_BYTES = 1 << 20;

export function send(url: string, req: OutboundRequest): Promise<OutboundResponse> {
  const target = new URL(url);
  if (target.protocol !== "http:") {
    return Promise.reject(new Error(`${url}: only http:// URLs are supported (in the mesh the sidecar adds TLS)`));
  }
  const proxy = proxyFor(target, req.env ?? process.env);
  const headers: Record<string, string> = { ...req.headers };
  if (req.body !== undefined) headers["content-length"] = String(Buffer.byteLength(req.body));
  // target.host keeps a non-default port ("sa-logic:8080") and drops ":80", as Host should.
  headers.host = target.host;
  const options: http.RequestOptions = proxy
    ? { host: proxy.hostname, port: proxy.port || 80, path: target.href, method: req.method, headers }
    : { host: target.hostname, port: target.port || 80, path: target.pathname + target.search, method: req.method, headers };
  if (proxy && proxy.username) {
    const credentials = `${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`;
    headers["proxy-authorization"] = `Basic ${Buffer.from(credentials).toString("base64")}`;
  }
  const timeoutMs = req.timeoutMs ?? 10_000;

  return new Promise((resolve, reject) => {
    const outgoing = http.request(options, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on("data", (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_RESPONSE_BYTES) {
          outgoing.destroy(new Error(`response from ${url} is larger than ${MAX_RESPONSE_BYTES} bytes`));
          return;
        }
        chunks.push(chunk);
      });
      res.on("end", () => {
        clearTimeout(timer);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) });
      });
      res.on("error", reject);
    });
    // One timer for the whole exchange: a peer that trickles bytes cannot hold us forever.
    const timer = setTimeout(() => outgoing.destroy(new OutboundTimeoutError(`no response from ${url} within ${timeoutMs} ms`)), timeoutMs);
    outgoing.on("close", () => clearTimeout(timer));
    outgoing.on("error", reject);
    outgoing.end(req.body);
  });
}
