// `skiff version`: the package version, the Node.js it runs on, and the Envoy API it speaks.
import { readFileSync } from "node:fs";
import { packagePath } from "../../package-root/index.ts";

export const summary = "print Skiff's version";

export async function run(_args: string[]): Promise<number> {
  const pkg = JSON.parse(readFileSync(packagePath("package.json"), "utf8")) as { version: string };
  console.log(`skiff ${pkg.version} (node ${process.version}, xDS API v3)`);
  return 0;
}
