// `skiff validate -f PATH... [--output json]`: loads config files, directories or stdin
// (`-f -`), validates every resource, prints every problem and a summary. Exit 1 when
// anything is an error, 0 when there are only warnings or nothing, 2 for bad usage.
import { loadPaths, validateResources, formatDiagnostic, diagnosticToJson, sortDiagnostics } from "../../api/index.ts";
import { choiceOption, command, UsageError } from "../command.ts";

export const summary = "validate Istio, Kubernetes and Skiff config files";

const USAGE = `usage: skiff validate -f PATH [-f PATH...] [--output text|json] [--domain DOMAIN]

  -f, --filename PATH   a file, a directory (searched recursively for .yaml, .yml and
                        .json files) or - for standard input; may be repeated
  -o, --output FORMAT   text (default) or json
      --domain DOMAIN   DNS domain of services (default cluster.local)

Exits 1 if any problem is an error, 0 otherwise.`;

export const run = command(
  {
    name: "validate",
    usage: USAGE,
    options: {
      filename: { type: "string", short: "f", multiple: true },
      output: { type: "string", short: "o", default: "text" },
      domain: { type: "string", default: "cluster.local" },
    },
    // Paths after the flags (`skiff validate -f a.yaml b.yaml`) are taken as more paths.
    positionals: true,
  },
  async ({ values, positionals }) => {
    const paths = [...(values.filename ?? []), ...positionals];
    if (paths.length === 0) throw new UsageError("no files given (use -f PATH, or -f - for stdin)");
    const output = choiceOption(values.output, "--output", ["text", "json"]);

    const loaded = await loadPaths(paths);
    const diagnostics = sortDiagnostics([...loaded.diagnostics, ...validateResources(loaded.resources, { domain: values.domain })]);
    const errors = diagnostics.filter((d) => d.severity === "error").length;
    const warnings = diagnostics.length - errors;

    if (output === "json") {
      const report = {
        valid: errors === 0,
        resources: loaded.resources.length,
        errors,
        warnings,
        diagnostics: diagnostics.map(diagnosticToJson),
      };
      console.log(JSON.stringify(report, null, 2));
    } else {
      for (const d of diagnostics) console.log(formatDiagnostic(d));
      console.log(`${loaded.resources.length} ${plural(loaded.resources.length, "resource")}: ${errors} ${plural(errors, "error")}, ${warnings} ${plural(warnings, "warning")}`);
    }
    return errors > 0 ? 1 : 0;
  },
);

function plural(n: number, word: string): string {
  return n === 1 ? word : `${word}s`;
}
