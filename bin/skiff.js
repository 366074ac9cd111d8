#!/usr/bin/env node
// The `skiff` command. Skiff runs its TypeScript sources directly through tsx's
// loader, so there is no build step between a checkout and a running mesh.
import { register } from "tsx/esm/api";

register();
const { main } = await import("../src/cli/main.ts");
process.exitCode = await main(process.argv.slice(2));
