// `skiff control-plane -f PATH... [--xds-port 15010] [--monitoring-port 15014]`: runs the
// control plane alone on the given config (files watched), for proxies and proxyless
// gRPC clients started elsewhere. Runs until interrupted.
import { parseArgs } from "node:util";
import { formatDiagnostic, type Diagnostic } from "../../api/index.ts";
import { ControlPlane, loadMeshConfigFile } from "../../pilot/index.ts";

export const summary = "run the control plane (xDS on 15010, monitoring on 15014) on config files";

const USAGE = `usage: skiff control-plane -f PATH [-f PATH...] [--xds-port PORT] [--monitoring-port PORT] [--address ADDR]

  -f, --filename PATH      a config file or directory (watched; changes are pushed); may be repeated
      --xds-port PORT      ADS (gRPC, plaintext) port (default 15010; 0 picks a free one)
      --monitoring-port PORT
                           /metrics and /debug port (default 15014; 0 picks a free one)
      --xds-tls-port PORT  Istio's 15012: xDS and the CA service over TLS (off unless given; 0 picks a free one)
      --ca-dir DIR         the mesh CA (Istio cacerts files, or a self-signed root made there and kept;
                           default .skiff/ca) and the runtime token key the CA trusts
      --address ADDR       address to listen on (default 127.0.0.1)
      --domain DOMAIN      DNS domain of services (default cluster.local)
      --mesh-config FILE   Istio meshConfig YAML (access logs, tracing, providers, trustDomain, ...)

Stops on Ctrl-C (SIGINT) or SIGTERM.`;

function port(value: string | undefined, flag: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new UsageError(`${flag} must be a port number 0-65535, not "${value}"`);
  return n;
}

class UsageError extends Error {}

export async function run(args: string[]): Promise<number> {
  let values;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args,
      options: {
        filename: { type: "string", short: "f", multiple: true },
        "xds-port": { type: "string" },
        "monitoring-port": { type: "string" },
        "xds-tls-port": { type: "string" },
        "ca-dir": { type: "string", default: ".skiff/ca" },
        address: { type: "string", default: "127.0.0.1" },
        domain: { type: "string", default: "cluster.local" },
        "mesh-config": { type: "string" },
        help: { type: "boolean", short: "h" },
      },
      allowPositionals: true,
    }));
  } catch (err) {
    console.error(`skiff control-plane: ${err instanceof Error ? err.message : String(err)}\n\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const files = [...(values.filename ?? []), ...positionals];
  let xdsPort: number;
  let monitoringPort: number;
  let xdsTlsPort: number | undefined;
  try {
    if (files.length === 0) throw new UsageError("no config given (use -f PATH)");
    xdsPort = port(values["xds-port"], "--xds-port", 15010);
    monitoringPort = port(values["monitoring-port"], "--monitoring-port", 15014);
    xdsTlsPort = values["xds-tls-port"] === undefined ? undefined : port(values["xds-tls-port"], "--xds-tls-port", 15012);
  } catch (err) {
    console.error(`skiff control-plane: ${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }

  let lastShown = "";
  const show = (diagnostics: Diagnostic[]): void => {
    const text = diagnostics.map(formatDiagnostic).join("\n");
    if (text === lastShown) return;
    const hadProblems = lastShown !== "";
    lastShown = text;
    if (text) console.error(text);
    else if (hadProblems) console.error("config: no problems left");
  };
  const cp = new ControlPlane({
    files,
    xdsPort,
    monitoringPort,
    xdsTlsPort,
    caDir: values["ca-dir"],
    host: values.address,
    // A bad mesh config throws MeshConfigLoadError: main prints its file:line lines, no stack.
    mesh: { ...(values["mesh-config"] ? loadMeshConfigFile(values["mesh-config"]) : {}), domain: values.domain },
    onDiagnostics: show,
  });
  const ports = await cp.start();
  // One parseable line: tests and scripts read the ports from it.
  console.log(`skiff control-plane: xDS on ${values.address}:${ports.xds}, monitoring on http://${values.address}:${ports.monitoring} (${cp.store.all().length} config objects)${ports.xdsTls !== undefined ? `; xDS and CA over TLS on ${values.address}:${ports.xdsTls}, CA in ${values["ca-dir"]}` : ""}`);

  await new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
      resolve();
    };
    process.on("SIGINT", stop);
    process.on("SIGTERM", stop);
  });
  await cp.stop();
  return 0;
}
