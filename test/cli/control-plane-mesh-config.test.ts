// `skiff control-plane --mesh-config FILE`: a bad mesh config stops the command with
// file:line lines (no stack trace); a good one starts the control plane.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const skiff = join(import.meta.dirname, "..", "..", "bin", "skiff.js");

/** Runs the command until it prints its ready line (then stops it) or exits. */
function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [skiff, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
      if (stdout.includes("xDS on")) child.kill("SIGTERM");
    });
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", reject);
    child.on("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

test("control-plane --mesh-config: errors name file:line and field; a valid file starts the control plane", async () => {
  const dir = mkdtempSync(join(tmpdir(), "skiff-cp-mesh-"));
  try {
    const config = join(dir, "config.yaml");
    writeFileSync(config, "apiVersion: v1\nkind: Namespace\nmetadata: {name: demo}\n");
    const bad = join(dir, "bad-mesh.yaml");
    writeFileSync(bad, "accessLogFile: /dev/stdout\ndefaultProviders:\n  tracing: [otel]\n");
    const failed = await run(["control-plane", "-f", config, "--mesh-config", bad, "--xds-port", "0", "--monitoring-port", "0"]);
    assert.equal(failed.code, 1);
    assert.match(failed.stderr, /bad-mesh\.yaml:3: defaultProviders\.tracing\[0\]: provider "otel" is not defined/);
    assert.doesNotMatch(failed.stderr, /\n\s+at /, "no stack trace");

    const good = join(dir, "mesh.yaml");
    writeFileSync(good, "accessLogFile: /dev/stdout\nextensionProviders:\n- name: otel\n  opentelemetry: {service: 127.0.0.1, port: 4318, http: {}}\ndefaultProviders:\n  tracing: [otel]\n");
    const started = await run(["control-plane", "-f", config, "--mesh-config", good, "--xds-port", "0", "--monitoring-port", "0"]);
    assert.match(started.stdout, /skiff control-plane: xDS on 127\.0\.0\.1:\d+/, started.stderr);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
