// `skiff version`: the package version, the Node.js it runs on, and the Envoy API it speaks.
import { readFileSync } from "node:fs";
import { command } from "../command.ts";
import { packagePath } from "../../package-root/index.ts";

export const summary = "print Skiff's version";

const USAGE = "usage: skiff version\n\nPrints Skiff's version, the Node.js it runs on and the xDS API it speaks (also: skiff --version).";

export const run = command({ name: "version", usage: USAGE, options: {} }, () => {
  const pkg = JSON.parse(readFileSync(packagePath("package.json"), "utf8")) as { version: string };
  console.log(`skiff ${pkg.version} (node ${process.version}, xDS API v3)`);
  return 0;
});
