// The `skiff` command: parses the subcommand and hands off to its module. Each
// command lives in ./commands/<name>.ts and exports `run(args): Promise<number>`
// (the exit code). Commands are imported lazily so `skiff version` stays instant.

type CommandModule = { run(args: string[]): Promise<number>; summary: string };

const commands: Record<string, () => Promise<CommandModule>> = {
  "control-plane": () => import("./commands/control-plane.ts"),
  "proxy-status": () => import("./commands/proxy-status.ts"),
  "prometheus-config": () => import("./commands/prometheus-config.ts"),
  "trace-store": () => import("./commands/trace-store.ts"),
  proxy: () => import("./commands/proxy.ts"),
  "proxy-config": () => import("./commands/proxy-config.ts"),
  apply: () => import("./commands/apply.ts"),
  delete: () => import("./commands/delete.ts"),
  logs: () => import("./commands/logs.ts"),
  status: () => import("./commands/status.ts"),
  up: () => import("./commands/up.ts"),
  demo: () => import("./commands/demo.ts"),
  "dns-proxy": () => import("./commands/dns-proxy.ts"),
  validate: () => import("./commands/validate.ts"),
  version: () => import("./commands/version.ts"),
};

/** The command list with each command's one-line summary. Loading every command module
 *  costs about a second; it happens only for help and for a mistyped command. */
async function usage(): Promise<string> {
  const names = Object.keys(commands).sort();
  const summaries = await Promise.all(names.map(async (name) => (await commands[name]()).summary));
  const width = Math.max(...names.map((name) => name.length));
  return [
    "usage: skiff <command> [options]",
    "",
    "commands:",
    ...names.map((name, i) => `  ${name.padEnd(width)}  ${summaries[i]}`),
    "",
    "Run `skiff <command> --help` for a command's options.",
  ].join("\n");
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined) {
    // No command is a usage error like any other (src/cli/command.ts): stderr, exit 2.
    console.error(`skiff: no command given\n\n${await usage()}`);
    return 2;
  }
  if (name === "help" || name === "--help" || name === "-h") {
    console.log(await usage());
    return 0;
  }
  if (name === "--version") return main(["version"]);
  const load = commands[name];
  if (!load) {
    console.error(`skiff: unknown command "${name}"\n\n${await usage()}`);
    return 2;
  }
  const command = await load();
  try {
    return await command.run(rest);
  } catch (err) {
    // A command that fails unexpectedly still gets a one-line message, not a stack
    // trace; SKIFF_DEBUG=1 shows the stack for bug reports.
    const message = err instanceof Error ? err.message : String(err);
    console.error(`skiff ${name}: ${message}`);
    if (process.env.SKIFF_DEBUG && err instanceof Error) console.error(err.stack);
    return 1;
  }
}
