// `skiff trace-store [--port 9411] [--host 127.0.0.1] [--max-spans N]`: the embedded
// trace store on its own: accepts Zipkin v2 JSON and OTLP/HTTP JSON, answers
// Zipkin's v2 query API. Runs until interrupted.
import { parseArgs } from "node:util";
import { startTraceStore } from "../../telemetry/index.ts";

export const summary = "run the embedded trace store (Zipkin v2 + OTLP/HTTP JSON in, Zipkin API out)";

const USAGE = `usage: skiff trace-store [--port 9411] [--host 127.0.0.1] [--max-spans 100000]

  --port       port to listen on (Zipkin's 9411 by default; 0 picks a free one)
  --host       address to bind (default 127.0.0.1)
  --max-spans  spans kept in memory; the least recently written traces go first`;

export async function run(args: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        port: { type: "string", default: "9411" },
        host: { type: "string", default: "127.0.0.1" },
        "max-spans": { type: "string", default: "100000" },
        help: { type: "boolean", short: "h" },
      },
    }));
  } catch (err) {
    console.error(`skiff trace-store: ${err instanceof Error ? err.message : String(err)}\n\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const port = Number(values.port);
  const maxSpans = Number(values["max-spans"]);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`skiff trace-store: --port ${values.port} is not a port number (0-65535)`);
    return 2;
  }
  if (!Number.isInteger(maxSpans) || maxSpans < 1) {
    console.error(`skiff trace-store: --max-spans ${values["max-spans"]} must be a positive whole number`);
    return 2;
  }
  const ts = await startTraceStore({ port, host: values.host, maxSpans });
  console.log(`trace store listening on ${ts.url} (POST /api/v2/spans, POST /v1/traces; GET /api/v2/services, /api/v2/traces, /api/v2/trace/{id})`);
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
  });
  await ts.close();
  return 0;
}
