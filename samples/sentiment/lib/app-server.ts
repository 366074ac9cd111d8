// What every demo app shares: listen on PORT (and HOST), answer GET /healthz for the
// readiness probe, GET /metrics with the app's own request count in Prometheus text
// format (what a pod's prometheus.io/* annotations point at; the sidecar merges it into
// its 15020 scrape), write one JSON access line per request to stdout, and shut down
// gracefully on SIGTERM/SIGINT (stop accepting, let in-flight requests finish, exit 0),
// which is what `skiff up` sends when it drains a workload.
import http from "node:http";
import type { AddressInfo } from "node:net";

export type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => Promise<void> | void;

export interface AppOptions {
  /** The app's name, in every log line. */
  name: string;
  handler: Handler;
  /** Extra fields for the "listening" line (e.g. the version). */
  describe?: Record<string, unknown>;
}

const SHUTDOWN_GRACE_MS = 10_000;

// A log line must never take the app down: with stdout gone (a closed pipe), drop logs.
process.stdout.on("error", () => undefined);

export function log(app: string, fields: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), app, ...fields })}\n`);
}

/** The app's own request counts by method and status code (probes and scrapes left out). */
class RequestCounts {
  readonly #counts = new Map<string, number>();

  add(method: string, code: number): void {
    const key = `${method} ${code}`;
    this.#counts.set(key, (this.#counts.get(key) ?? 0) + 1);
  }

  /** Prometheus text format 0.0.4. Methods and codes need no escaping (a token and digits). */
  exposition(): string {
    const lines = [
      "# HELP sentiment_app_requests_total Requests this demo app answered, counted by the app itself (not its proxy), by method and status code.",
      "# TYPE sentiment_app_requests_total counter",
    ];
    for (const [key, n] of [...this.#counts].sort(([a], [b]) => (a < b ? -1 : 1))) {
      const [method, code] = key.split(" ");
      lines.push(`sentiment_app_requests_total{method="${method}",code="${code}"} ${n}`);
    }
    return `${lines.join("\n")}\n`;
  }
}

export function sendJson(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = `${JSON.stringify(body)}\n`;
  res.writeHead(status, { "content-type": "application/json; charset=utf-8", "content-length": Buffer.byteLength(text), ...headers });
  res.end(text);
}

/** Reads PORT; 0 asks the OS for a free port (the "listening" line says which). */
export function portFromEnv(env: NodeJS.ProcessEnv = process.env, fallback = 8080): number {
  const raw = env.PORT;
  if (raw === undefined || raw === "") return fallback;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`PORT="${raw}" is not a port number (0-65535; 0 picks a free port)`);
  }
  return port;
}

/** Starts the app and resolves with the port it listens on. */
export async function runApp(options: AppOptions): Promise<number> {
  const { name } = options;
  let draining = false;
  const counts = new RequestCounts();

  const server = http.createServer((req, res) => {
    const started = process.hrtime.bigint();
    const path = (req.url ?? "/").split("?")[0];
    const own = path === "/healthz" || path === "/metrics";
    res.on("finish", () => {
      if (!own) counts.add(req.method ?? "GET", res.statusCode);
      // While draining, a keep-alive connection that just finished its last request would
      // otherwise hold the exit up until keepAliveTimeout; close it as soon as it is idle.
      if (draining) setImmediate(() => server.closeIdleConnections());
      log(name, {
        method: req.method,
        path: req.url,
        status: res.statusCode,
        durationMs: Number((process.hrtime.bigint() - started) / 1000n) / 1000,
        requestId: req.headers["x-request-id"],
      });
    });
    if (req.url === "/healthz" && (req.method === "GET" || req.method === "HEAD")) {
      // Not ready while draining, so a prober stops sending traffic here first.
      sendJson(res, draining ? 503 : 200, { status: draining ? "draining" : "ok" });
      return;
    }
    if (path === "/metrics" && req.method === "GET") {
      const text = counts.exposition();
      res.writeHead(200, { "content-type": "text/plain; version=0.0.4; charset=utf-8", "content-length": Buffer.byteLength(text) });
      res.end(text);
      return;
    }
    Promise.resolve()
      .then(() => options.handler(req, res))
      .catch((err: unknown) => {
        log(name, { level: "error", msg: "handler failed", error: err instanceof Error ? err.message : String(err) });
        if (!res.headersSent) sendJson(res, 500, { error: "internal error" });
        else res.destroy();
      });
  });
  // Keep-alive sockets are closed once idle during shutdown instead of holding it open.
  server.keepAliveTimeout = 5_000;

  let port: number;
  try {
    port = portFromEnv();
  } catch (err) {
    log(name, { level: "error", msg: (err as Error).message });
    process.exit(2);
  }
  const host = process.env.HOST || undefined; // unset: every interface, like a pod's app
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  }).catch((err: NodeJS.ErrnoException) => {
    log(name, { level: "error", msg: `cannot listen on ${host ?? "*"}:${port}: ${err.code ?? err.message}` });
    process.exit(1);
  });
  const actual = (server.address() as AddressInfo).port;
  log(name, { msg: "listening", port: actual, host: host ?? "*", ...options.describe });

  const shutdown = (signal: string): void => {
    if (draining) return;
    draining = true;
    log(name, { msg: "shutting down", signal });
    const force = setTimeout(() => {
      log(name, { level: "warn", msg: `requests still open after ${SHUTDOWN_GRACE_MS} ms; exiting anyway` });
      process.exit(1);
    }, SHUTDOWN_GRACE_MS);
    force.unref();
    server.close(() => {
      log(name, { msg: "stopped" });
      process.exit(0);
    });
    server.closeIdleConnections();
  };
  process.on("SIGTERM", () => shutdown("SIGTERM"));
  process.on("SIGINT", () => shutdown("SIGINT"));
  return actual;
}
