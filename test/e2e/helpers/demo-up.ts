// Runs the sentiment demo under `skiff up` (a real child process, through startMesh) for
// an e2e test: a temp run directory, a free gateway port, the embedded trace store on a
// free port (`--trace-port 0`: tests never use fixed ports; its URL read back from
// `skiff status`), optionally the sample's mesh config, and an exit hook that stops the
// mesh (SIGTERM, then sweeps what a hung run left) and removes the temp directory.
import type { TestContext } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { SKIFF, eventually, startMesh } from "./mesh.ts";

export { SKIFF, eventually };
export const SAMPLES = fileURLToPath(new URL("../../../samples/sentiment/", import.meta.url));
export const ISTIO = join(SAMPLES, "istio");

export interface Demo {
  dir: string;
  runDir: string;
  env: NodeJS.ProcessEnv;
  /** Gateway port on 127.0.0.1. */
  port: number;
  /** The embedded trace store's base URL, as `skiff status -o json` reports it. */
  traceUrl: string;
  skiff(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }>;
  /** SIGTERM and the exit code of `skiff up`. */
  stop(): Promise<number | null>;
}

/** The sample mesh config (samples/mesh-config/sentiment.yaml), used as it is. */
export const SAMPLE_MESH_CONFIG = join(SAMPLES, "..", "mesh-config", "sentiment.yaml");

/** `meshConfig: false` runs with no --mesh-config at all (Istio's defaults). */
export async function startDemo(t: TestContext, opts: { meshConfig?: string | false } = {}): Promise<Demo> {
  const dir = mkdtempSync(join(tmpdir(), "skiff-obs-"));
  const meshConfig = opts.meshConfig === false ? [] : ["--mesh-config", opts.meshConfig ?? SAMPLE_MESH_CONFIG];
  const mesh = await startMesh(t, { dir, files: [join(SAMPLES, "mesh.yaml")], args: [...meshConfig, "--wait", "120"], env: { DATA_DIR: join(dir, "feedback") } });
  const { runDir, env, port, skiff, stop } = mesh;
  const status = await skiff("status", "-o", "json");
  assert.equal(status.code, 0, status.stderr);
  const traceUrl = (JSON.parse(status.stdout) as { traceStore?: { url: string } }).traceStore?.url;
  assert.ok(traceUrl, `skiff status names no trace store: ${status.stdout.slice(0, 500)}`);
  return { dir, runDir, env, port, traceUrl, skiff, stop };
}

/** A span as the trace store's Zipkin API returns it (the fields the tests read). */
export interface ZSpan {
  id: string;
  parentId?: string;
  traceId: string;
  kind: string;
  localEndpoint: { serviceName: string };
}

/**
 * The one trace whose x-request-id is `requestId`, polled (at most `tries` times) until it holds
 * sa-logic's SERVER span, and its chain: `service:KIND` from the root down to that span.
 */
export async function traceOf(demo: Demo, requestId: string, tries: number): Promise<{ trace: ZSpan[]; chain: string[] }> {
  const found = await eventually(
    async () => (await (await fetch(`${demo.traceUrl}/api/v2/traces?annotationQuery=${encodeURIComponent(`guid:x-request-id=${requestId}`)}&limit=10`)).json()) as ZSpan[][],
    (ts) => ts.length === 1 && ts[0].some((s) => s.kind === "SERVER" && s.localEndpoint.serviceName.startsWith("sa-logic")),
    tries,
  );
  assert.equal(found.length, 1, JSON.stringify(found));
  const trace = found[0];
  const byId = new Map(trace.map((s) => [s.id, s]));
  const logicServer = trace.find((s) => s.kind === "SERVER" && s.localEndpoint.serviceName.startsWith("sa-logic"))!;
  const chain: string[] = [];
  for (let s: ZSpan | undefined = logicServer; s && chain.length < 10; s = s.parentId ? byId.get(s.parentId) : undefined) {
    chain.unshift(`${s.localEndpoint.serviceName.split(".")[0]}:${s.kind}`);
  }
  return { trace, chain };
}
