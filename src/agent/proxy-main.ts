// The agent's proxy launcher: runs Skiff's proxy from a bootstrap file in this process,
// as pilot-agent runs Envoy beside a workload. `skiff up` starts sidecars and the
// gateway with `skiff proxy --bootstrap FILE` when that command exists, else with this
// file (`node --import tsx src/agent/proxy-main.ts --bootstrap FILE`). SIGTERM drains.
import { parseArgs } from "node:util";
import { Proxy, loadBootstrap } from "../proxy/index.ts";

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { bootstrap: { type: "string" } } });
  if (!values.bootstrap) {
    console.error("usage: proxy-main --bootstrap FILE");
    return 2;
  }
  const proxy = new Proxy({ bootstrap: loadBootstrap(values.bootstrap), onQuit: () => process.exit(0) });
  await proxy.start();
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
      resolve();
    };
    process.on("SIGINT", stop);
    process.on("SIGTERM", stop);
  });
  await proxy.drain();
  await proxy.stop();
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`proxy: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
