// sa-webapp: POST /sentiment {"sentence"} → asks sa-logic (POST /analyse/sentiment) and
// answers {"sentence", "polarity", "version"}. It copies the tracing headers of the
// incoming request onto the call to sa-logic, so the mesh sees one trace, and passes
// sa-logic's version on (JSON and x-version) so a user can watch a canary split from
// the front door. SA_LOGIC_URL says where sa-logic is (default http://sa-logic: in the
// mesh the service name is resolved by the sidecar, reached through HTTP_PROXY in
// process mode or through capture in netns mode).
import {
  log,
  OutboundTimeoutError,
  proxyFor,
  readJsonObject,
  RequestError,
  runApp,
  send,
  sendJson,
  sentenceOf,
  traceHeadersOf,
} from "../lib/index.ts";

const NAME = "sa-webapp";
const logicUrl = resolveLogicUrl(process.env.SA_LOGIC_URL || "http://sa-logic");

/** Checks SA_LOGIC_URL and the proxy settings once, at start, rather than on every request. */
function resolveLogicUrl(base: string): string {
  try {
    const url = new URL("/analyse/sentiment", base);
    if (url.protocol !== "http:") throw new Error(`only http:// is supported (the sidecar adds TLS)`);
    proxyFor(url, process.env);
    return url.href;
  } catch (err) {
    const message = (err as Error).message;
    log(NAME, {
      level: "error",
      msg: message.startsWith("HTTP_PROXY") ? message : `SA_LOGIC_URL="${base}": ${message}; set it like http://sa-logic or http://127.0.0.1:8081`,
    });
    process.exit(2);
  }
}

interface LogicAnswer {
  polarity: number;
  version?: string;
}

function parseLogicAnswer(body: Buffer): LogicAnswer | undefined {
  try {
    const value = JSON.parse(body.toString("utf8")) as Record<string, unknown>;
    if (typeof value.polarity !== "number") return undefined;
    return { polarity: value.polarity, version: typeof value.version === "string" ? value.version : undefined };
  } catch {
    return undefined;
  }
}

await runApp({
  name: NAME,
  describe: { saLogic: logicUrl, httpProxy: process.env.HTTP_PROXY || process.env.http_proxy || null },
  async handler(req, res) {
    const path = new URL(req.url ?? "/", "http://localhost").pathname;
    if (path !== "/sentiment") {
      sendJson(res, 404, { error: `no route for ${path}; use POST /sentiment` });
      return;
    }
    if (req.method !== "POST") {
      sendJson(res, 405, { error: "use POST" }, { allow: "POST" });
      return;
    }
    let sentence: string;
    try {
      sentence = sentenceOf(await readJsonObject(req));
    } catch (err) {
      if (!(err instanceof RequestError)) throw err;
      sendJson(res, err.status, { error: err.message });
      return;
    }

    let upstream;
    try {
      upstream = await send(logicUrl, {
        method: "POST",
        headers: { "content-type": "application/json", accept: "application/json", ...traceHeadersOf(req.headers) },
        body: JSON.stringify({ sentence }),
      });
    } catch (err) {
      const timedOut = err instanceof OutboundTimeoutError;
      log(NAME, { level: "warn", msg: "sa-logic unreachable", url: logicUrl, error: (err as Error).message });
      sendJson(res, timedOut ? 504 : 502, { error: `sa-logic at ${logicUrl}: ${(err as Error).message}` });
      return;
    }
    const answer = upstream.status === 200 ? parseLogicAnswer(upstream.body) : undefined;
    const version = upstream.headers["x-version"];
    const versionHeader: Record<string, string> = typeof version === "string" ? { "x-version": version } : {};
    if (!answer) {
      const detail = upstream.body.toString("utf8").slice(0, 300).trim();
      sendJson(res, 502, { error: `sa-logic answered ${upstream.status}`, upstream: { status: upstream.status, body: detail } }, versionHeader);
      return;
    }
    sendJson(res, 200, { sentence, polarity: answer.polarity, version: answer.version ?? version ?? null }, versionHeader);
  },
});
