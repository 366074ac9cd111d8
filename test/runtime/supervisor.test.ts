import { after, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Backoff } from "../../src/runtime/index.ts";
import { SupervisedProcess } from "../../src/runtime/supervisor.ts";

const dir = mkdtempSync(join(tmpdir(), "skiff-supervisor-"));
after(() => rmSync(dir, { recursive: true, force: true }));

function script(name: string, body: string): string {
  const file = join(dir, name);
  writeFileSync(file, body);
  return file;
}

async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 25));
  assert.ok(check(), what);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test("a process that keeps crashing is restarted with backoff, its output and the reasons in its log", async () => {
  const log = join(dir, "crash.log");
  const p = new SupervisedProcess({
    name: "crasher",
    command: process.execPath,
    args: [script("crash.mjs", 'console.log("starting"); process.exit(3);')],
    cwd: dir,
    env: process.env,
    logFile: log,
    backoff: new Backoff({ initialMs: 20, maxMs: 40 }),
  });
  p.start();
  await until(() => p.restarts >= 2, "restarted twice");
  await p.stop();
  assert.equal(p.state, "stopped");
  const text = readFileSync(log, "utf8");
  assert.ok((text.match(/starting/g) ?? []).length >= 3, text);
  assert.match(text, /crasher ended \(exit code 3\); restarting in/);
});

test("stop: SIGTERM, then SIGKILL after the grace period; the process's own children go too", async () => {
  const pidFile = join(dir, "grandchild.pid");
  const body = `
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
const child = spawn(process.execPath, ["-e", "setInterval(() => {}, 1000)"], { stdio: "ignore" });
writeFileSync(${JSON.stringify(pidFile)}, String(child.pid));
process.on("SIGTERM", () => console.log("ignoring SIGTERM"));
setInterval(() => {}, 1000);
console.log("up");
`;
  const log = join(dir, "stubborn.log");
  const p = new SupervisedProcess({ name: "stubborn", command: process.execPath, args: [script("stubborn.mjs", body)], cwd: dir, env: process.env, logFile: log, stopTimeoutMs: 300 });
  p.start();
  await until(() => readFileSync(log, "utf8").includes("up"), "started");
  const pid = p.pid!;
  const grandchild = Number(readFileSync(pidFile, "utf8"));
  await p.stop();
  assert.equal(alive(pid), false);
  await until(() => !alive(grandchild), "grandchild gone");
  assert.equal(p.restarts, 0); // a stop is not a crash
  assert.match(readFileSync(log, "utf8"), /did not stop within 300 ms; killing it/);
});

test("a command that does not exist is reported in the log and retried, not thrown", async () => {
  const log = join(dir, "missing.log");
  const p = new SupervisedProcess({ name: "missing", command: join(dir, "no-such-program"), args: [], cwd: dir, env: process.env, logFile: log, backoff: new Backoff({ initialMs: 20 }) });
  p.start();
  await until(() => p.restarts >= 1, "retried");
  await p.stop();
  assert.match(readFileSync(log, "utf8"), /cannot start .*no-such-program: .*ENOENT/);
});
