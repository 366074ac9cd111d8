// `skiff proxy --bootstrap FILE [--node-id ID] [--xds-address HOST:PORT] [--admin-port N]`:
// runs Skiff's proxy (sidecar or gateway, from the node id) driven by xDS.
import { BootstrapError, Logger, Proxy, loadBootstrap, logLevels, parseBootstrap, type Bootstrap } from "../../proxy/index.ts";
import { choiceOption, command, portOption, UsageError } from "../command.ts";
// Only the type: the agent (X.509, the CA client, SDS: ~4.5 MB of heap) is imported when
// mesh mTLS is configured, so a plaintext sidecar does not carry it.
import type { RunningWorkloadAgent } from "../../agent/index.ts";

/** The agent's AGENT_ENV.caAddress, repeated here so that checking it loads nothing. */
const CA_ADDRESS_ENV = "SKIFF_CA_ADDRESS";

export const summary = "run Skiff's proxy (sidecar or gateway) driven by xDS";

const USAGE = `usage: skiff proxy [--bootstrap FILE] [--node-id ID] [--xds-address HOST:PORT] [--admin-port N] [--log-level LEVEL]

  --bootstrap FILE          Envoy-like bootstrap (YAML or JSON): node, admin, dynamic_resources/xds_address, static_resources
  --node-id ID              node id, e.g. sidecar~10.0.0.1~app-1.default~default.svc.cluster.local or router~...
  --xds-address HOST:PORT   the ADS server (plaintext), e.g. 127.0.0.1:15010
  --admin-port N            admin endpoint port (default 15000; 0 picks a free port)
  --log-level LEVEL         trace, debug, info (default), warning, error, critical, off

Without --bootstrap, --node-id and --xds-address are required.
SIGTERM drains listeners (in-flight requests finish), then exits.

Mesh mTLS: with ${CA_ADDRESS_ENV}, SKIFF_CA_ROOT_FILE and SKIFF_TOKEN_FILE in the environment
the workload agent runs beside the proxy: it gets and rotates the workload's certificate
from the mesh CA and serves it to the proxy over SDS (the sds-grpc cluster).`;

export const run = command(
  {
    name: "proxy",
    usage: USAGE,
    options: {
      bootstrap: { type: "string" },
      "node-id": { type: "string" },
      "xds-address": { type: "string" },
      "admin-port": { type: "string" },
      "log-level": { type: "string", default: "info" },
    },
  },
  async ({ values }) => {
    const adminPort = values["admin-port"] === undefined ? undefined : portOption(values["admin-port"], "--admin-port");
    const level = choiceOption(values["log-level"], "--log-level", logLevels);
    if (!values.bootstrap && (!values["node-id"] || !values["xds-address"])) throw new UsageError("give --bootstrap FILE, or both --node-id and --xds-address");
    let bootstrap: Bootstrap;
    try {
      const overrides = { nodeId: values["node-id"], xdsAddress: values["xds-address"], adminPort };
      bootstrap = values.bootstrap ? loadBootstrap(values.bootstrap, overrides) : parseBootstrap({}, "command line", overrides);
    } catch (err) {
      // A bad bootstrap file is the user's input too (exit 2), but the usage would not help:
      // the message names the file, the field and the fix.
      if (err instanceof BootstrapError) {
        console.error(`skiff proxy: ${err.message}`);
        return 2;
      }
      throw err;
    }
    return serve(bootstrap, new Logger(level));
  },
);

/** Starts the agent (when mesh mTLS is configured) and the proxy; resolves with the exit code once a signal has drained it. */
async function serve(bootstrap: Bootstrap, logger: Logger): Promise<number> {
  // The agent first (Istio's pilot-agent): the proxy reaches it through sds-grpc.
  let agent: RunningWorkloadAgent | undefined;
  try {
    const meta = bootstrap.node.metadata as { NAMESPACE?: string; SERVICE_ACCOUNT?: string };
    if (process.env[CA_ADDRESS_ENV]) {
      const { agentSettingsFromEnv, startWorkloadAgent } = await import("../../agent/index.ts");
      const settings = agentSettingsFromEnv(process.env, { namespace: meta.NAMESPACE, serviceAccount: meta.SERVICE_ACCOUNT });
      if (settings) {
        agent = await startWorkloadAgent({ ...settings, log: (level, msg) => logger.log(level, `agent: ${msg}`) });
        bootstrap.sdsAddress ??= agent.sdsAddress;
        if (agent.xds) {
          // Istio's 15012: config over TLS from the control plane the agent trusts.
          bootstrap.xdsAddress = agent.xds.address;
          bootstrap.xdsTls = { rootsPem: agent.xds.rootsPem };
          logger.log("info", `agent: xDS over TLS from ${agent.xds.address}`);
        }
      }
    }
  } catch (err) {
    console.error(`skiff proxy: ${(err as Error).message}`);
    return 2;
  }
  let exit: (code: number) => void = () => {};
  const done = new Promise<number>((resolve) => (exit = resolve));
  const proxy = new Proxy({ bootstrap, logger, onQuit: () => void (agent ? agent.stop() : Promise.resolve()).finally(() => exit(0)) });
  await proxy.start();
  // Printed on stdout so scripts (and tests) can find the admin port when it was 0.
  console.log(`skiff proxy ready: admin http://${bootstrap.adminAddress}:${proxy.admin.port}`);
  const shutdown = (signal: string): void => {
    logger.log("info", `${signal}: draining listeners`);
    void proxy.quit();
  };
  process.once("SIGTERM", () => shutdown("SIGTERM"));
  process.once("SIGINT", () => shutdown("SIGINT"));
  return done;
}
