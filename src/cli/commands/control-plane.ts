// `skiff control-plane -f PATH... [--xds-port 15010] [--monitoring-port 15014]`: runs the
// control plane alone on the given config (files watched), for proxies and proxyless
// gRPC clients started elsewhere. Runs until interrupted.
import { ControlPlane, loadMeshConfigFile } from "../../pilot/index.ts";
import { diagnosticsPrinter } from "../diagnostics.ts";
import { command, portOption, untilSignal, UsageError } from "../command.ts";

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

export const run = command(
  {
    name: "control-plane",
    usage: USAGE,
    options: {
      filename: { type: "string", short: "f", multiple: true },
      "xds-port": { type: "string", default: "15010" },
      "monitoring-port": { type: "string", default: "15014" },
      "xds-tls-port": { type: "string" },
      "ca-dir": { type: "string", default: ".skiff/ca" },
      address: { type: "string", default: "127.0.0.1" },
      domain: { type: "string", default: "cluster.local" },
      "mesh-config": { type: "string" },
    },
    positionals: true,
  },
  async ({ values, positionals }) => {
    const files = [...(values.filename ?? []), ...positionals];
    if (files.length === 0) throw new UsageError("no config given (use -f PATH)");
    const xdsPort = portOption(values["xds-port"], "--xds-port");
    const monitoringPort = portOption(values["monitoring-port"], "--monitoring-port");
    const xdsTlsPort = values["xds-tls-port"] === undefined ? undefined : portOption(values["xds-tls-port"], "--xds-tls-port");

    const show = diagnosticsPrinter();
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

    await untilSignal();
    await cp.stop();
    return 0;
  },
);
