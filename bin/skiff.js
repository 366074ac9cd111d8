#!/usr/bin/env node
// The `skiff` command. It runs an esbuild bundle of src/ that is rebuilt whenever a
// source changes (bin/bundle.js), so no process pays for compiling TypeScript at start-up
// and there is still no build step between a checkout and a running mesh.
// SKIFF_NO_BUNDLE=1 runs the sources through tsx instead.
import { loadMain } from "./bundle.js";

const main = await loadMain();
process.exitCode = await main(process.argv.slice(2));
