// One way for every `skiff <command>` to read its arguments. A command declares its
// options, whether it takes bare words (paths, names) and its usage text once; this
// module gives all of them the same behaviour at the edges:
//   - `-h` / `--help` prints the usage on stdout and exits 0;
//   - a usage error (unknown flag, missing value, stray word, or a `UsageError` the
//     command throws after parsing) prints `skiff NAME: what is wrong`, a blank line and
//     the usage on stderr, and exits 2;
//   - anything else the command throws goes up to main, which prints one line and exits 1.
// It is built on node:util's parseArgs; parseArgs' own messages are long and talk about
// positionals, so they are rewritten to name the flag plainly.
import { parseArgs, type ParseArgsConfig } from "node:util";

type Options = NonNullable<ParseArgsConfig["options"]>;

/** What parseArgs gives for these options: typed values (defaults filled in) and the bare words. */
export type Parsed<O extends Options> = ReturnType<typeof parseArgs<{ args: string[]; options: O; allowPositionals: true }>>;

export interface CommandSpec<O extends Options> {
  /** As the user types it: every message starts `skiff NAME: `. */
  name: string;
  /** The whole usage text, shown by --help and after every usage error. */
  usage: string;
  /** The command's options; `-h, --help` is added to them. */
  options: O;
  /** Whether bare words are taken; when not, one is a usage error. */
  positionals?: boolean;
}

/** Thrown by a command for arguments it cannot use: exit 2, the message, then the usage. */
export class UsageError extends Error {}

/** A command's `run`: parses `args` by `spec`, then hands the values to `body` (its exit code comes back). */
export function command<const O extends Options>(spec: CommandSpec<O>, body: (parsed: Parsed<O>) => Promise<number> | number): (args: string[]) => Promise<number> {
  return async (args) => {
    const usageError = (message: string): number => {
      console.error(`skiff ${spec.name}: ${message}\n\n${spec.usage}`);
      return 2;
    };
    let parsed: Parsed<O>;
    try {
      parsed = parseArgs({
        args,
        options: { ...spec.options, help: { type: "boolean", short: "h" } },
        allowPositionals: spec.positionals ?? false,
      }) as unknown as Parsed<O>;
    } catch (err) {
      return usageError(plainParseError(err));
    }
    if ((parsed.values as { help?: boolean }).help) {
      console.log(spec.usage);
      return 0;
    }
    try {
      return await body(parsed);
    } catch (err) {
      if (err instanceof UsageError) return usageError(err.message);
      throw err;
    }
  };
}

/** parseArgs' error as one short sentence naming the flag or word. */
function plainParseError(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  const code = (err as { code?: string }).code;
  // parseArgs names an option as '--name', or '-n, --name <value>' when it has a short form.
  const option = /option '(?:-\w, )?(-{1,2}[^' ]+)/i.exec(message)?.[1];
  if (code === "ERR_PARSE_ARGS_UNKNOWN_OPTION" && option) return `unknown option "${option}"`;
  if (code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE" && option) {
    if (/does not take an argument/.test(message)) return `option "${option}" takes no value`;
    // "argument missing", or "ambiguous" when the next word starts with a dash.
    return `option "${option}" needs a value${/ambiguous/.test(message) ? ` (for one that starts with a dash, write ${option}=VALUE)` : ""}`;
  }
  const word = /^Unexpected argument '([^']*)'/.exec(message)?.[1];
  if (code === "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL" && word !== undefined) return `unexpected argument "${word}" (this command takes only options)`;
  return message;
}

/** A port number from a flag's text, or a UsageError naming the flag, the range and the value. */
export function portOption(value: string, flag: string, min = 0): number {
  const n = Number(value);
  if (value.trim() === "" || !Number.isInteger(n) || n < min || n > 65535) throw new UsageError(`${flag} must be a port number ${min}-65535, not "${value}"`);
  return n;
}

/** One of a flag's allowed words, or a UsageError listing them. */
export function choiceOption<const C extends string>(value: string, flag: string, choices: readonly C[]): C {
  if ((choices as readonly string[]).includes(value)) return value as C;
  throw new UsageError(`${flag} must be ${choices.join(" or ")}, not "${value}"`);
}

/** Resolves on the first SIGINT or SIGTERM (Ctrl-C, or a supervisor stopping the process); the handlers are removed. */
export function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const stop = (signal: NodeJS.Signals): void => {
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
      resolve(signal);
    };
    process.on("SIGINT", stop);
    process.on("SIGTERM", stop);
  });
}
