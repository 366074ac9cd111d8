// `skiff trace-store [--port 9411] [--host 127.0.0.1] [--max-spans N]`: the embedded
// trace store on its own: accepts Zipkin v2 JSON and OTLP/HTTP JSON, answers
// Zipkin's v2 query API. Runs until interrupted.
import { startTraceStore } from "../../telemetry/index.ts";
import { command, portOption, untilSignal, UsageError } from "../command.ts";

export const summary = "run the embedded trace store (Zipkin v2 + OTLP/HTTP JSON in, Zipkin API out)";

const USAGE = `usage: skiff trace-store [--port 9411] [--host 127.0.0.1] [--max-spans 100000]

  --port       port to listen on (Zipkin's 9411 by default; 0 picks a free one)
  --host       address to bind (default 127.0.0.1)
  --max-spans  spans kept in memory; the least recently written traces go first`;

export const run = command(
  {
    name: "trace-store",
    usage: USAGE,
    options: {
      port: { type: "string", default: "9411" },
      host: { type: "string", default: "127.0.0.1" },
      "max-spans": { type: "string", default: "100000" },
    },
  },
  async ({ values }) => {
    const port = portOption(values.port, "--port");
    const maxSpans = Number(values["max-spans"]);
    if (!Number.isInteger(maxSpans) || maxSpans < 1) throw new UsageError(`--max-spans must be a positive whole number, not "${values["max-spans"]}"`);
    const ts = await startTraceStore({ port, host: values.host, maxSpans });
    console.log(`trace store listening on ${ts.url} (POST /api/v2/spans, POST /v1/traces; GET /api/v2/services, /api/v2/traces, /api/v2/trace/{id})`);
    await untilSignal();
    await ts.close();
    return 0;
  },
);
