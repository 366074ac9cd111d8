// How proxies are started: `node <PROXY_NODE_FLAGS> bin/skiff.js proxy --bootstrap FILE`.
// The flags must be ones this Node accepts (a mistyped V8 flag makes every proxy exit at
// start) and must do what docs/performance.md measured: a young generation capped small.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { PROXY_NODE_FLAGS, proxyCommand } from "../../src/agent/index.ts";

test("a proxy is started by this Node with the proxy flags, then bin/skiff.js proxy --bootstrap FILE", () => {
  const { command, args } = proxyCommand("/tmp/b.json");
  assert.equal(command, process.execPath);
  assert.deepEqual(args.slice(0, PROXY_NODE_FLAGS.length), [...PROXY_NODE_FLAGS]);
  const bin = args[PROXY_NODE_FLAGS.length];
  assert.match(bin, /bin\/skiff\.js$/);
  assert.ok(existsSync(bin), bin);
  assert.deepEqual(args.slice(PROXY_NODE_FLAGS.length + 1), ["proxy", "--bootstrap", "/tmp/b.json"]);
});

test("SKIFF_PROXY_NODE_FLAGS replaces the flags (empty: V8's defaults)", (t) => {
  const saved = process.env.SKIFF_PROXY_NODE_FLAGS;
  t.after(() => {
    if (saved === undefined) delete process.env.SKIFF_PROXY_NODE_FLAGS;
    else process.env.SKIFF_PROXY_NODE_FLAGS = saved;
  });
  process.env.SKIFF_PROXY_NODE_FLAGS = "";
  assert.match(proxyCommand("b.json").args[0], /bin\/skiff\.js$/);
  process.env.SKIFF_PROXY_NODE_FLAGS = " --max-semi-space-size=4  --stack-size=900 ";
  assert.deepEqual(proxyCommand("b.json").args.slice(0, 2), ["--max-semi-space-size=4", "--stack-size=900"]);
});

test("this Node accepts the proxy flags, and the young generation stays small under allocation", () => {
  // Allocate ~30 MB of short-lived objects; V8's default would grow new space to 16 MB semi-spaces.
  const script = `const v8 = require("v8"); let keep; for (let i = 0; i < 3e5; i++) keep = { i, s: "x" + i, a: [i, i] };
    const ns = v8.getHeapSpaceStatistics().find((s) => s.space_name === "new_space");
    console.log(JSON.stringify({ size: ns.space_size, keep: keep.i }));`;
  const out = JSON.parse(execFileSync(process.execPath, [...PROXY_NODE_FLAGS, "-e", script], { encoding: "utf8", timeout: 30_000 })) as { size: number };
  assert.ok(out.size <= 4 * 1024 * 1024, `new space ${out.size} bytes with ${PROXY_NODE_FLAGS.join(" ")}`);
  const dflt = JSON.parse(execFileSync(process.execPath, ["-e", script], { encoding: "utf8", timeout: 30_000 })) as { size: number };
  assert.ok(dflt.size > out.size, `V8's default new space (${dflt.size}) is larger than the proxy's (${out.size})`);
});
