// Config problems as long-running commands (skiff up, skiff control-plane) show them: the
// config is re-checked on every file change, and the same list would otherwise be printed
// again each time. Printed on stderr when the list changes; once it empties, one line says so.
import { formatDiagnostic, type Diagnostic } from "../api/index.ts";

/** A callback for onDiagnostics that prints only changes. */
export function diagnosticsPrinter(print: (text: string) => void = (text) => console.error(text)): (diagnostics: Diagnostic[]) => void {
  let lastShown = "";
  return (diagnostics) => {
    const text = diagnostics.map(formatDiagnostic).join("\n");
    if (text === lastShown) return;
    const hadProblems = lastShown !== "";
    lastShown = text;
    if (text) print(text);
    else if (hadProblems) print("config: no problems left");
  };
}
