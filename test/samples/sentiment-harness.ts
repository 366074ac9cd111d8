// Test harness for the sentiment demo: runs an app as a real child process on an
// ephemeral loopback port, and a recording HTTP proxy that stands where a sidecar would.
import { spawn, type ChildProcess } from "node:child_process";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";

const repoRoot = fileURLToPath(new URL("../../", import.meta.url));
const START_TIMEOUT_MS = 20_000;
const STOP_TIMEOUT_MS = 15_000;

export type AppName = "sa-frontend" | "sa-webapp" | "sa-logic" | "sa-feedback";

export interface RunningApp {
  name: AppName;
  port: number;
  url: string;
  /** Everything the app printed so far (stdout and stderr), for failure messages. */
  output(): string;
  /** SIGTERM, then the exit code (null if it died by a signal). */
  stop(): Promise<number | null>;
}

const PROXY_VARIABLES = ["HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy"];

export async function startApp(name: AppName, env: Record<string, string> = {}): Promise<RunningApp> {
  const childEnv: NodeJS.ProcessEnv = { ...process.env };
  // The test's own environment must not leak a proxy into the apps; tests set it explicitly.
  for (const variable of PROXY_VARIABLES) delete childEnv[variable];
  Object.assign(childEnv, { PORT: "0", HOST: "127.0.0.1", NODE_OPTIONS: "" }, env);
  const child = spawn(process.execPath, ["--import", "tsx", `samples/sentiment/${name}/server.ts`], {
    cwd: repoRoot,
    env: childEnv,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.setEncoding("utf8");
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (text: string) => (output += text));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));

  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not start within ${START_TIMEOUT_MS} ms:\n${output}`)), START_TIMEOUT_MS);
    child.stdout.on("data", (text: string) => {
      output += text;
      // The app announces its port as one JSON line: {"msg":"listening","port":N,...}
      for (const line of output.split("\n")) {
        if (!line.includes('"listening"')) continue;
        const parsed = JSON.parse(line) as { msg?: string; port?: number };
        if (parsed.msg === "listening" && typeof parsed.port === "number") {
          clearTimeout(timer);
          resolve(parsed.port);
          return;
        }
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited with ${code} before listening:\n${output}`));
    });
  });

  return {
    name,
    port,
    url: `http://127.0.0.1:${port}`,
    output: () => output,
    stop: () => stopChild(child, exited, name),
  };
}

async function stopChild(child: ChildProcess, exited: Promise<number | null>, name: string): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return exited;
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), STOP_TIMEOUT_MS);
  const code = await exited;
  clearTimeout(timer);
  if (child.signalCode === "SIGKILL") throw new Error(`${name} ignored SIGTERM and was killed`);
  return code;
}

export interface RecordedRequest {
  method: string;
  /** The request target as received: absolute-form through a proxy, origin-form otherwise. */
  url: string;
  headers: http.IncomingHttpHeaders;
}

export interface RecordingProxy {
  url: string;
  requests: RecordedRequest[];
  close(): Promise<void>;
}

/**
 * A tiny HTTP proxy that records each request and passes it on. Absolute-form requests
 * (`POST http://sa-logic/... HTTP/1.1`, what an app sends through HTTP_PROXY) are sent
 * to `hosts[hostname]`, as a sidecar would resolve a service name; origin-form ones (the
 * proxy used as SA_LOGIC_URL directly) go to `defaultTarget`.
 */
export async function startRecordingProxy(options: { hosts?: Record<string, string>; defaultTarget?: string }): Promise<RecordingProxy> {
  const requests: RecordedRequest[] = [];
  const server = http.createServer((req, res) => {
    requests.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers });
    let upstream: URL;
    if (req.url?.startsWith("http://")) {
      const target = new URL(req.url);
      const base = options.hosts?.[target.hostname];
      if (!base) {
        res.writeHead(502).end(`recording proxy: no upstream for ${target.hostname}`);
        return;
      }
      upstream = new URL(target.pathname + target.search, base);
    } else if (options.defaultTarget) {
      upstream = new URL(req.url ?? "/", options.defaultTarget);
    } else {
      res.writeHead(502).end("recording proxy: origin-form request and no default target");
      return;
    }
    const headers = { ...req.headers, host: upstream.host };
    const forward = http.request(upstream, { method: req.method, headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    forward.on("error", (err) => res.writeHead(502).end(`recording proxy: ${err.message}`));
    req.pipe(forward);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A loopback port nothing listens on (bound, then released), for "upstream down" cases. */
export async function closedPort(): Promise<number> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export async function postJson(url: string, body: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(url, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, json: json as Record<string, unknown>, text };
}
