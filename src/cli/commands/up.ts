// `skiff up -f PATH... [--port 8080]`: runs a whole mesh on this machine (process mode):
// the control plane, the ingress gateway and every Workload's replicas with sidecars.
// Stays in the foreground; Ctrl-C or SIGTERM stops everything in order.
import { createServer } from "node:net";
import { DEFAULT_TRACE_PORT, LocalMesh, MeshApiServer, netnsSupport, readState, runDir, runningMesh, sweepStale, type MeshStatus } from "../../runtime/index.ts";
import { loadMeshConfigFile, type MeshConfig } from "../../pilot/index.ts";
import { diagnosticsPrinter } from "../diagnostics.ts";
import { command, portOption, UsageError } from "../command.ts";

export const summary = "run a whole mesh on this machine: control plane, ingress gateway, workloads with sidecars";

const USAGE = `usage: skiff up -f PATH [-f PATH...] [--port PORT] [--netns] [--trace-port PORT | --no-trace-store]

  -f, --filename PATH   mesh file or directory: Namespaces, Services, Workloads (skiff.dev/v1alpha1)
                        and Istio resources; watched for changes; may be repeated
      --port PORT       host port of the ingress gateway's port-80 server (default 8080)
      --wait SECONDS    how long to wait for every replica to be ready before saying so (default 60)
      --mesh-config FILE
                        Istio meshConfig YAML (access logs, tracing, providers; docs/mesh-config.md)
      --trace-port PORT port of the embedded trace store (Zipkin v2 and OTLP/HTTP in, Zipkin API out)
                        on 127.0.0.1 (default 9411; 0 picks a free one). Proxies reach it as the
                        service zipkin.istio-system:9411, Istio's default tracing address
      --no-trace-store  do not run the trace store (you run Zipkin, Jaeger or a collector yourself)
      --netns           netns mode (Linux, root): each replica in its own network namespace and
                        address on a bridge, iptables capture through its sidecar, service VIPs
                        resolved by a DNS proxy; the apps get no HTTP_PROXY

The run directory (state, logs) is $SKIFF_RUN_DIR, else $XDG_RUNTIME_DIR/skiff, else /tmp/skiff-<uid>.
Stops on Ctrl-C (SIGINT) or SIGTERM: gateway and sidecars drain, then apps, then the control plane.`;

export interface UpOptions {
  files: string[];
  httpPort: number;
  waitSeconds: number;
  netns?: boolean;
  /** From --mesh-config. */
  mesh?: Partial<MeshConfig>;
  /** The embedded trace store's port (`--trace-port`, default 9411; 0 = a free one); false = none (`--no-trace-store`). */
  tracePort?: number | false;
  /** Called once the mesh is up (the demo applies its first config here). */
  afterStart?: (mesh: LocalMesh) => Promise<void> | void;
  /** Extra lines printed once everything is ready. */
  readyMessage?: (status: MeshStatus) => string[];
}

export const run = command(
  {
    name: "up",
    usage: USAGE,
    options: {
      filename: { type: "string", short: "f", multiple: true },
      port: { type: "string", default: "8080" },
      wait: { type: "string", default: "60" },
      netns: { type: "boolean", default: false },
      "mesh-config": { type: "string" },
      "trace-port": { type: "string" },
      "no-trace-store": { type: "boolean", default: false },
    },
    positionals: true,
  },
  async ({ values, positionals }) => {
    const files = [...(values.filename ?? []), ...positionals];
    if (files.length === 0) throw new UsageError("no mesh file given (use -f PATH)");
    const httpPort = portOption(values.port, "--port", 1);
    const waitSeconds = Number(values.wait);
    if (!Number.isFinite(waitSeconds) || waitSeconds < 0) throw new UsageError(`--wait must be a number of seconds, not "${values.wait}"`);
    if (values["no-trace-store"] && values["trace-port"] !== undefined) throw new UsageError("use --trace-port or --no-trace-store, not both");
    const tracePort = values["no-trace-store"] ? false : portOption(values["trace-port"] ?? String(DEFAULT_TRACE_PORT), "--trace-port");
    // A bad mesh config throws MeshConfigLoadError: main prints its file:line lines, no stack.
    const mesh = values["mesh-config"] ? loadMeshConfigFile(values["mesh-config"]) : undefined;
    return up({ files, httpPort, waitSeconds, netns: values.netns, mesh, tracePort });
  },
);

function describe(status: MeshStatus): string[] {
  const lines = [
    `  control plane   xDS 127.0.0.1:${status.xdsPort}, monitoring http://127.0.0.1:${status.monitoringPort}/debug`,
    `  ingress gateway http://localhost:${status.gateway.httpPort}/  (Gateway port 80; admin http://127.0.0.1:${status.gateway.adminPort})`,
  ];
  if (status.traceStore) lines.push(`  trace store     ${status.traceStore.url}/api/v2/traces  (Zipkin API; proxies send to zipkin.istio-system:9411)`);
  for (const r of status.replicas) {
    if (r.address) {
      // netns mode: the replica's own address; the sidecar captures its ports there.
      const ports = r.app.ports.map((p) => `${p.name ?? "port"} ${r.address}:${p.port}`).join(", ");
      lines.push(`  ${r.namespace}/${r.name.padEnd(22)} ${ports}${r.sidecar ? `; sidecar captures 15001/15006, admin http://${r.address}:${r.sidecar.adminPort}` : "; no sidecar"}`);
      continue;
    }
    const app = r.app.ports.map((p) => `${p.name ?? "port"} ${p.inboundPort ?? p.port}${p.inboundPort ? ` → app ${p.port}` : ""}`).join(", ");
    const sidecar = r.sidecar ? `; sidecar HTTP proxy ${r.sidecar.httpProxyPort}, admin ${r.sidecar.adminPort}` : "; no sidecar";
    lines.push(`  ${r.namespace}/${r.name.padEnd(22)} ${app}${sidecar}`);
  }
  return lines;
}

/** Whether the gateway's HTTP port can be bound (checked up front: a clear message beats a NACK later). */
function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

export async function up(opts: UpOptions): Promise<number> {
  const dir = runDir();
  const existing = runningMesh(dir);
  if (existing) {
    console.error(`skiff up: a mesh is already running (pid ${existing.pid}, run directory ${dir}); stop it first (Ctrl-C in its terminal, or kill ${existing.pid})`);
    return 1;
  }
  if (opts.netns) {
    // Before anything starts: a clear refusal rather than a half-started mesh.
    const support = await netnsSupport();
    if (!support.ok) {
      console.error(`skiff up: ${support.reason}; run without --netns for process mode`);
      return 1;
    }
  }
  if (!(await portFree(opts.httpPort))) {
    console.error(`skiff up: port ${opts.httpPort} on 127.0.0.1 is in use, so the ingress gateway could not listen there; stop what uses it or pick another with --port`);
    return 1;
  }
  const tracePort = opts.tracePort ?? DEFAULT_TRACE_PORT;
  if (tracePort !== false && tracePort !== 0 && (tracePort === opts.httpPort || !(await portFree(tracePort)))) {
    console.error(
      `skiff up: port ${tracePort} on 127.0.0.1 is in use, so the embedded trace store could not listen there; if Zipkin or another trace store runs there already, use --no-trace-store (and point your mesh config's tracing provider at it), else pick a free port with --trace-port`,
    );
    return 1;
  }
  const stale = readState(dir);
  if (stale) {
    const killed = sweepStale(stale);
    if (killed) console.log(`skiff up: stopped ${killed} process(es) left running by an earlier mesh (pid ${stale.pid}) that did not stop cleanly`);
  }
  const showDiagnostics = diagnosticsPrinter();
  const mesh = new LocalMesh({ files: opts.files, runDir: dir, httpPort: opts.httpPort, netns: opts.netns, mesh: opts.mesh, ...(tracePort !== false ? { traceStore: { port: tracePort } } : {}), log: (line) => console.log(line), onDiagnostics: showDiagnostics });
  const api = new MeshApiServer(mesh);
  // If this process dies without stopping the mesh, its children must not outlive it.
  const onExit = (): void => mesh.killNow();
  process.on("exit", onExit);

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      console.log("skiff up: stopping (gateway and sidecars drain, then apps, then the control plane)...");
      await api.close();
      await mesh.stop();
    })());
  const stopped = new Promise<void>((resolve) => {
    const onSignal = (): void => {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
      void stop().then(resolve);
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
  });

  try {
    const apiPort = await api.listen(0);
    await mesh.start(apiPort);
    console.log(`skiff up: mesh starting (run directory ${dir})`);
    await opts.afterStart?.(mesh);
    for (const line of describe(mesh.status())) console.log(line);
    const announceReady = async (): Promise<void> => {
      try {
        await mesh.waitReady(opts.waitSeconds * 1000);
        if (stopping) return;
        console.log(`skiff up: ready. Gateway: http://localhost:${opts.httpPort}/  ·  skiff status  ·  skiff logs WORKLOAD  ·  Ctrl-C stops`);
        for (const line of opts.readyMessage?.(mesh.status()) ?? []) console.log(line);
      } catch (err) {
        if (!stopping) console.log(`skiff up: ${(err as Error).message}; still running (see skiff status and skiff logs)`);
      }
    };
    // A signal while waiting stops at once; the wait does not hold the exit.
    await Promise.race([announceReady(), stopped]);
  } catch (err) {
    console.error(`skiff up: ${err instanceof Error ? err.message : String(err)}`);
    await stop();
    process.off("exit", onExit);
    return 1;
  }
  await stopped;
  process.off("exit", onExit);
  console.log("skiff up: stopped");
  return 0;
}
