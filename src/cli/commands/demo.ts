// `skiff demo` (what `npm start` runs): the sentiment-analysis demo as a local mesh.
// It is `skiff up -f samples/sentiment/mesh.yaml`, plus the tutorial's step 2 (the
// Gateway and the ingress VirtualService) applied at once as `skiff apply` would, so the
// printed URL works straight away and `skiff delete` / `skiff apply` can change them.
// The tutorial itself (docs/local-mesh.md) starts from `skiff up` alone to show the
// gateway's 404 before the Gateway is applied.
import { readFileSync } from "node:fs";
import { packagePath } from "../../package-root/index.ts";
import { loadText, formatDiagnostic } from "../../api/index.ts";
import { DEFAULT_TRACE_PORT } from "../../runtime/index.ts";
import { command, portOption, UsageError } from "../command.ts";
import { up } from "./up.ts";

export const summary = "run the sentiment-analysis demo mesh (npm start)";

const SAMPLES = `${packagePath("samples", "sentiment")}/`;
const MESH = `${SAMPLES}mesh.yaml`;
/** The tutorial's step 2: the ingress Gateway and the routes behind it. */
const STEP_2 = [`${SAMPLES}istio/http-gateway.yaml`, `${SAMPLES}istio/vs-route-ingress.yaml`];

const USAGE = `usage: skiff demo [--port 8080] [--trace-port PORT | --no-trace-store]

Runs the sentiment-analysis demo: skiff up -f samples/sentiment/mesh.yaml, with the Gateway and
VirtualService of samples/sentiment/istio/ applied. Ctrl-C stops it.

      --port PORT       host port of the ingress gateway (default 8080)
      --trace-port PORT port of the embedded trace store on 127.0.0.1 (default ${DEFAULT_TRACE_PORT}; 0 picks a free one)
      --no-trace-store  do not run the trace store (Zipkin or a collector already runs on ${DEFAULT_TRACE_PORT})`;

export const run = command(
  {
    name: "demo",
    usage: USAGE,
    options: { port: { type: "string", default: "8080" }, "trace-port": { type: "string" }, "no-trace-store": { type: "boolean", default: false } },
  },
  async ({ values }) => {
    const httpPort = portOption(values.port, "--port", 1);
    // The same two flags as skiff up: without them a Zipkin already on 9411 made the demo refuse with no way out.
    if (values["no-trace-store"] && values["trace-port"] !== undefined) throw new UsageError("use --trace-port or --no-trace-store, not both");
    const tracePort = values["no-trace-store"] ? false : portOption(values["trace-port"] ?? String(DEFAULT_TRACE_PORT), "--trace-port");
    return up({
      files: [MESH],
      httpPort,
      tracePort,
      waitSeconds: 90,
      afterStart: (mesh) => {
        const resources = STEP_2.flatMap((file) => {
          const loaded = loadText(readFileSync(file, "utf8"), file);
          for (const d of loaded.diagnostics) console.error(formatDiagnostic(d));
          return loaded.resources;
        });
        const outcome = mesh.apply(resources, "demo");
        for (const d of outcome.diagnostics) console.error(formatDiagnostic(d));
        if (outcome.applied) for (const key of outcome.objects) console.log(`${key} configured (samples/sentiment/istio)`);
      },
      readyMessage: () => [
        "",
        `  Open http://localhost:${httpPort}/ and type a sentence.`,
        "",
        "  Try next (in another terminal):",
        "    node bin/skiff.js status",
        "    node bin/skiff.js apply -f samples/sentiment/istio/sa-logic-dr.yaml -f samples/sentiment/istio/sa-logic-vs.yaml",
        "    node bin/skiff.js apply -f samples/sentiment/istio/sa-logic-v2.yaml",
        "    node bin/skiff.js apply -f samples/sentiment/istio/sa-logic-vs-canary.yaml",
        "  The walk-through is in docs/local-mesh.md.",
      ],
    });
  },
);

