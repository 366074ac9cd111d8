// The control plane's monitoring port (15014 in Istio): Prometheus metrics and the
// debug endpoints that `skiff proxy-status` and humans read.
import http from "node:http";
import type { AddressInfo } from "node:net";
import type { AdsServer } from "./server.ts";

export interface MonitoringOptions {
  ads: AdsServer;
  /** Extra JSON debug endpoints, e.g. `/debug/config_problems` → config source diagnostics. */
  extraDebug?: Record<string, () => unknown>;
}

function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(`${JSON.stringify(body, null, 2)}\n`);
}

export class MonitoringServer {
  #server: http.Server | undefined;

  constructor(private readonly opts: MonitoringOptions) {}

  async start(port = 15014, host = "127.0.0.1"): Promise<number> {
    const server = http.createServer((req, res) => this.#handle(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once("error", (err: NodeJS.ErrnoException) =>
        reject(new Error(`monitoring server cannot listen on ${host}:${port} (${err.code ?? err.message}); is the port in use? Pick another with --monitoring-port`)),
      );
      server.listen(port, host, () => resolve());
    });
    this.#server = server;
    return (server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  #handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? "/", "http://localhost");
    const ads = this.opts.ads;
    switch (url.pathname) {
      case "/metrics":
        res.writeHead(200, { "content-type": "text/plain; version=0.0.4" });
        res.end(ads.metrics.render());
        return;
      case "/debug/syncz":
        sendJson(res, 200, ads.status());
        return;
      case "/debug/translation_problems":
        sendJson(res, 200, ads.translationProblems());
        return;
      case "/debug/config_dump": {
        const proxyId = url.searchParams.get("proxyID");
        if (!proxyId) {
          sendJson(res, 400, { error: "missing ?proxyID=<node id or name.namespace>; /debug/syncz lists connected proxies" });
          return;
        }
        const conn = ads.connection(proxyId);
        if (!conn) {
          sendJson(res, 404, { error: `no connected proxy "${proxyId}"; /debug/syncz lists connected proxies` });
          return;
        }
        sendJson(res, 200, conn.configDump());
        return;
      }
      case "/debug":
        sendJson(res, 200, { endpoints: ["/metrics", "/debug/syncz", "/debug/config_dump?proxyID=", "/debug/translation_problems", ...Object.keys(this.opts.extraDebug ?? {})] });
        return;
    }
    const extra = this.opts.extraDebug?.[url.pathname];
    if (extra) {
      sendJson(res, 200, extra());
      return;
    }
    res.writeHead(404, { "content-type": "text/plain" });
    res.end(`not found: ${url.pathname} (see /debug)\n`);
  }
}
