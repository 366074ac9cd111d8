// The argument handling every command shares (src/cli/command.ts), seen as a user sees
// it through `skiff <command> ...`: --help, unknown flags, missing values, stray words and
// bad values all answer the same way. Run in-process through main(): none of these
// argument lists gets far enough to start anything.
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { main } from "../../src/cli/main.ts";
import { choiceOption, command, portOption, UsageError } from "../../src/cli/command.ts";

/** Runs `skiff ...argv` in this process, capturing what it prints. */
async function skiff(t: TestContext, argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const log = t.mock.method(console, "log", (...a: unknown[]) => out.push(a.join(" ")));
  const error = t.mock.method(console, "error", (...a: unknown[]) => err.push(a.join(" ")));
  try {
    const code = await main(argv);
    return { code, stdout: out.join("\n"), stderr: err.join("\n") };
  } finally {
    log.mock.restore();
    error.mock.restore();
  }
}

// Every command: all of them are on the shared helper.
const COMMANDS = ["apply", "delete", "control-plane", "demo", "dns-proxy", "logs", "prometheus-config", "proxy", "proxy-config", "proxy-status", "status", "trace-store", "up", "validate", "version"];

test("--help and -h print the command's usage on stdout and exit 0", async (t) => {
  for (const name of COMMANDS) {
    for (const flag of ["--help", "-h"]) {
      const r = await skiff(t, [name, flag]);
      assert.equal(r.code, 0, `${name} ${flag}`);
      assert.match(r.stdout, new RegExp(`^usage: skiff ${name}\\b`), `${name} ${flag}`);
      assert.equal(r.stderr, "", `${name} ${flag}`);
    }
  }
});

test("skiff alone is a usage error (stderr, exit 2); skiff --help lists the commands with their summaries (stdout, exit 0)", async (t) => {
  const none = await skiff(t, []);
  assert.equal(none.code, 2);
  assert.equal(none.stdout, "");
  assert.match(none.stderr, /^skiff: no command given\n\nusage: skiff <command> \[options\]\n/);
  const help = await skiff(t, ["--help"]);
  assert.equal(help.code, 0);
  assert.equal(help.stderr, "");
  for (const name of COMMANDS) {
    // Each command on a line of its own with the summary its module exports.
    const { summary } = (await import(`../../src/cli/commands/${name}.ts`)) as { summary: string };
    assert.ok(summary.length > 0, name);
    const line = help.stdout.split("\n").find((l) => l.trimStart().startsWith(`${name} `));
    assert.ok(line, `${name} is listed:\n${help.stdout}`);
    assert.match(line, /^ {2}\S+ +\S/, name);
    assert.equal(line.replace(/^ +\S+ +/, ""), summary, name);
  }
  assert.match(none.stderr, /^ {2}proxy +run Skiff's proxy/m, "the list after the error has the summaries too");
});

test("an unknown flag exits 2 naming the flag, then the usage", async (t) => {
  for (const name of COMMANDS) {
    const r = await skiff(t, [name, "--frobnicate"]);
    assert.equal(r.code, 2, name);
    assert.equal(r.stdout, "", name);
    assert.match(r.stderr, new RegExp(`^skiff ${name}: unknown option "--frobnicate"\\n\\nusage: skiff ${name}\\b`), name);
  }
  const short = await skiff(t, ["logs", "sa-logic", "-x"]);
  assert.match(short.stderr, /^skiff logs: unknown option "-x"\n\nusage: skiff logs/);
});

test("a flag without its value, a value for a switch, and a stray word are usage errors", async (t) => {
  const missing = await skiff(t, ["validate", "-f"]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /^skiff validate: option "--filename" needs a value\n\nusage: skiff validate/);

  const dashed = await skiff(t, ["proxy-status", "--control-plane", "-o", "json"]);
  assert.equal(dashed.code, 2);
  assert.match(dashed.stderr, /^skiff proxy-status: option "--control-plane" needs a value \(for one that starts with a dash, write --control-plane=VALUE\)/);

  const switchValue = await skiff(t, ["demo", "--help=yes"]);
  assert.equal(switchValue.code, 2);
  assert.match(switchValue.stderr, /^skiff demo: option "--help" takes no value\n\nusage: skiff demo/);

  const stray = await skiff(t, ["demo", "now"]);
  assert.equal(stray.code, 2);
  assert.match(stray.stderr, /^skiff demo: unexpected argument "now" \(this command takes only options\)\n\nusage: skiff demo/);
});

test("bad values name the flag, what it takes and the value given, with the usage, exit 2", async (t) => {
  const cases: [string[], RegExp][] = [
    [["control-plane", "-f", "x.yaml", "--xds-port", "99999"], /^skiff control-plane: --xds-port must be a port number 0-65535, not "99999"\n\nusage: skiff control-plane/],
    [["control-plane", "-f", "x.yaml", "--monitoring-port", ""], /^skiff control-plane: --monitoring-port must be a port number 0-65535, not ""/],
    [["demo", "--port", "0"], /^skiff demo: --port must be a port number 1-65535, not "0"\n\nusage: skiff demo/],
    [["dns-proxy", "--namespace", "demo", "--port", "5.5"], /^skiff dns-proxy: --port must be a port number 0-65535, not "5\.5"\n\nusage: skiff dns-proxy/],
    [["dns-proxy", "--port", "53"], /^skiff dns-proxy: --namespace is required\n\nusage: skiff dns-proxy/],
    [["logs", "sa-logic", "-c", "sidecar"], /^skiff logs: -c must be app or proxy, not "sidecar"\n\nusage: skiff logs/],
    [["logs"], /^skiff logs: give one workload name\n\nusage: skiff logs/],
    [["proxy-config", "cluster", "15000", "-o", "yaml"], /^skiff proxy-config: --output must be table or json, not "yaml"\n\nusage: skiff proxy-config/],
    [["proxy-config", "clusters"], /^skiff proxy-config: expected a kind \(cluster, .*\n\nusage: skiff proxy-config/],
    [["proxy-status", "-o", "wide"], /^skiff proxy-status: --output must be table or json, not "wide"\n\nusage: skiff proxy-status/],
    [["apply"], /^skiff apply: no file given \(use -f PATH\)\n\nusage: skiff apply/],
    [["delete", "-n", "demo"], /^skiff delete: no file given \(use -f PATH\)\n\nusage: skiff delete/],
    [["up", "-f", "mesh.yaml", "--port", "0"], /^skiff up: --port must be a port number 1-65535, not "0"\n\nusage: skiff up/],
    [["up", "-f", "mesh.yaml", "--trace-port", "0", "--no-trace-store"], /^skiff up: use --trace-port or --no-trace-store, not both\n\nusage: skiff up/],
    [["up", "-f", "mesh.yaml", "--wait", "soon"], /^skiff up: --wait must be a number of seconds, not "soon"\n\nusage: skiff up/],
    [["status", "-o", "yaml"], /^skiff status: -o must be table or json, not "yaml"\n\nusage: skiff status/],
    [["prometheus-config", "--run-dir", "/nonexistent", "--control-plane", "127.0.0.1:15014"], /^skiff prometheus-config: use --run-dir or --control-plane, not both\n\nusage: skiff prometheus-config/],
    [["proxy"], /^skiff proxy: give --bootstrap FILE, or both --node-id and --xds-address\n\nusage: skiff proxy/],
    [["proxy", "--node-id", "sidecar~10.0.0.1~a-0.demo~demo.svc.cluster.local"], /^skiff proxy: give --bootstrap FILE, or both --node-id and --xds-address\n\nusage: skiff proxy/],
    [["proxy", "--bootstrap", "b.yaml", "--admin-port", "70000"], /^skiff proxy: --admin-port must be a port number 0-65535, not "70000"\n\nusage: skiff proxy/],
    [["proxy", "--bootstrap", "b.yaml", "--log-level", "loud"], /^skiff proxy: --log-level must be trace or debug or info or warning or error or critical or off, not "loud"\n\nusage: skiff proxy/],
    [["proxy", "stray"], /^skiff proxy: unexpected argument "stray" \(this command takes only options\)\n\nusage: skiff proxy/],
    [["trace-store", "--max-spans", "0"], /^skiff trace-store: --max-spans must be a positive whole number, not "0"\n\nusage: skiff trace-store/],
  ];
  for (const [argv, expected] of cases) {
    const r = await skiff(t, argv);
    assert.equal(r.code, 2, argv.join(" "));
    assert.match(r.stderr, expected, argv.join(" "));
    assert.equal(r.stdout, "", argv.join(" "));
  }
});

test("skiff proxy: a bootstrap file it cannot use is one line naming the file, exit 2, no usage", async (t) => {
  const r = await skiff(t, ["proxy", "--bootstrap", "/nonexistent/skiff-bootstrap.yaml"]);
  assert.equal(r.code, 2);
  assert.equal(r.stdout, "");
  assert.match(r.stderr, /^skiff proxy: cannot read bootstrap \/nonexistent\/skiff-bootstrap\.yaml: ENOENT$/);
});

test("a command gets typed values with defaults filled in, and bare words only when it takes them", async () => {
  const seen: unknown[] = [];
  const run = command(
    { name: "demo-cmd", usage: "usage: skiff demo-cmd", options: { port: { type: "string", default: "80" }, verbose: { type: "boolean", short: "v" } }, positionals: true },
    ({ values, positionals }) => {
      seen.push({ port: portOption(values.port, "--port"), verbose: values.verbose ?? false, positionals });
      return 7;
    },
  );
  assert.equal(await run(["a", "-v", "b"]), 7);
  assert.equal(await run(["--port=8080"]), 7);
  assert.deepEqual(seen, [
    { port: 80, verbose: true, positionals: ["a", "b"] },
    { port: 8080, verbose: false, positionals: [] },
  ]);
});

test("errors other than usage errors are left to main (one line, exit 1), not turned into usage errors", async () => {
  const run = command({ name: "boom", usage: "usage: skiff boom", options: {} }, () => {
    throw new Error("the disk is full");
  });
  await assert.rejects(run([]), /^Error: the disk is full$/);
});

test("choiceOption and portOption accept exactly their values", () => {
  assert.equal(choiceOption("json", "-o", ["table", "json"]), "json");
  assert.throws(() => choiceOption("JSON", "-o", ["table", "json"]), (e: unknown) => e instanceof UsageError && e.message === '-o must be table or json, not "JSON"');
  assert.equal(portOption("0", "--port"), 0);
  assert.equal(portOption("65535", "--port"), 65535);
  for (const bad of ["65536", "-1", "8080x", " ", "1e3x"]) assert.throws(() => portOption(bad, "--port"), UsageError, bad);
  assert.throws(() => portOption("0", "--port", 1), /--port must be a port number 1-65535, not "0"/);
});
