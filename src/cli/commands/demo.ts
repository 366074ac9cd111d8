// `skiff demo` (what `npm start` runs): the sentiment-analysis demo mesh. The local
// runtime that starts it (`skiff up`) is not built yet, so for now this says so and
// points at what works today.

export const summary = "run the sentiment-analysis demo mesh (not available yet)";

export async function run(_args: string[]): Promise<number> {
  console.log(
    [
      "The demo mesh is not available yet: `skiff up`, which starts it, is still being built.",
      "What works today:",
      "  skiff validate -f <files or directories>   validate Istio and Kubernetes YAML",
      "  skiff control-plane -f <files>             run the xDS control plane on that config",
      "See README.md and docs/ for details.",
    ].join("\n"),
  );
  return 0;
}
