// Golden-file tests of translate(): each directory under golden/ holds Istio/Kubernetes
// YAML (input.yaml), the proxy (proxy.yaml), optional mesh overrides (mesh.yaml) and the
// expected Envoy JSON for the resource types that case pins (listeners.json, routes.json,
// clusters.json, endpoints.json, problems.json). Only the files present are compared.
// `UPDATE_GOLDEN=1` rewrites them; a `pin: [listeners, ...]` list in proxy.yaml creates
// missing ones. Every emitted resource is also checked against Envoy's real protos.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { isDeepStrictEqual } from "node:util";
import { parse } from "yaml";
import { loadText } from "../../../src/api/index.ts";
import type { AnyResource } from "../../../src/api/types.ts";
import { buildRegistry } from "../../../src/registry/build.ts";
import { translate, defaultMeshConfig } from "../../../src/pilot/translate/index.ts";
import type { MeshConfig, MeshSnapshot, ProxyNode, TranslationResult } from "../../../src/pilot/translate/index.ts";
import { validateMessage } from "../../../src/envoy/index.ts";

const root = join(import.meta.dirname, "golden");
const update = process.env.UPDATE_GOLDEN === "1";
const pinnable = ["listeners", "routes", "clusters", "endpoints", "problems"] as const;
type Pinned = (typeof pinnable)[number];

const messageType: Record<Exclude<Pinned, "problems">, string> = {
  listeners: "envoy.config.listener.v3.Listener",
  routes: "envoy.config.route.v3.RouteConfiguration",
  clusters: "envoy.config.cluster.v3.Cluster",
  endpoints: "envoy.config.endpoint.v3.ClusterLoadAssignment",
};

function compareKey(r: AnyResource): string {
  return `${r.kind}/${r.metadata.namespace ?? ""}/${r.metadata.name}`;
}

function loadInput(dir: string): AnyResource[] {
  const file = join(dir, "input.yaml");
  const { resources, diagnostics } = loadText(readFileSync(file, "utf8"), file);
  const errors = diagnostics.filter((d) => d.severity === "error");
  assert.equal(errors.length, 0, `input.yaml does not load: ${JSON.stringify(errors, null, 2)}`);
  for (const r of resources) {
    // Objects without a namespace live in `default`, as kubectl would put them.
    if (r.kind !== "Namespace" && !r.metadata.namespace) r.metadata.namespace = "default";
  }
  return resources.sort((a, b) => (compareKey(a) < compareKey(b) ? -1 : 1));
}

interface ProxyFile extends Partial<ProxyNode> {
  pin?: Pinned[];
}

function loadProxy(dir: string): { proxy: ProxyNode; pin: Pinned[] } {
  const raw = (parse(readFileSync(join(dir, "proxy.yaml"), "utf8")) ?? {}) as ProxyFile;
  const type = raw.type ?? "sidecar";
  const namespace = raw.namespace ?? "default";
  const ip = raw.ipAddresses?.[0] ?? "10.0.0.1";
  const podName = raw.podName ?? `client.${namespace}`;
  const proxy: ProxyNode = {
    id: raw.id ?? `${type}~${ip}~${podName}~${namespace}.svc.cluster.local`,
    type,
    ipAddresses: raw.ipAddresses ?? [ip],
    podName,
    namespace,
    labels: raw.labels ?? {},
    serviceAccount: raw.serviceAccount ?? "default",
    workloadName: raw.workloadName ?? podName.split(".")[0],
    metadata: raw.metadata ?? {},
  };
  return { proxy, pin: raw.pin ?? [] };
}

/**
 * Telemetry cases (`tel-*`) start from Istio's defaults (tracing at 1 %, prometheus
 * metrics); every other case from those defaults with telemetry off, so that its golden
 * pins its own subject and not the stats filters and tracer every listener would carry.
 */
function loadMesh(dir: string): MeshConfig {
  const base: MeshConfig = dir.split("/").pop()!.startsWith("tel-") ? defaultMeshConfig : { ...defaultMeshConfig, enableTracing: false, defaultProviders: { metrics: [] } };
  const file = join(dir, "mesh.yaml");
  if (!existsSync(file)) return base;
  return { ...base, ...(parse(readFileSync(file, "utf8")) as Partial<MeshConfig>) };
}

function runCase(dir: string): TranslationResult {
  const config = loadInput(dir);
  const mesh = loadMesh(dir);
  const snapshot: MeshSnapshot = {
    config,
    registry: buildRegistry(config, { domain: mesh.domain, version: 1 }),
    mesh,
    version: 1,
  };
  return translate(snapshot, loadProxy(dir).proxy);
}

function actualOf(result: TranslationResult, what: Pinned): unknown {
  return what === "problems" ? result.problems : result.resources[what];
}

/**
 * The differing region of two JSON texts, with line numbers of the expected file and a
 * few lines of context: enough to see which resource and field changed.
 */
function lineDiff(expected: string, actual: string): string {
  const a = expected.split("\n");
  const b = actual.split("\n");
  let start = 0;
  while (start < a.length && start < b.length && a[start] === b[start]) start++;
  let endA = a.length - 1;
  let endB = b.length - 1;
  while (endA >= start && endB >= start && a[endA] === b[endB]) {
    endA--;
    endB--;
  }
  const context = 4;
  const from = Math.max(0, start - context);
  const lines: string[] = [];
  for (let i = from; i < start; i++) lines.push(`  ${String(i + 1).padStart(5)}   ${a[i]}`);
  const limit = 40; // a whole new resource is summarised, not dumped
  a.slice(start, endA + 1).slice(0, limit).forEach((line, i) => lines.push(`- ${String(start + i + 1).padStart(5)}   ${line}`));
  b.slice(start, endB + 1).slice(0, limit).forEach((line) => lines.push(`+          ${line}`));
  if (endA + 1 - start > limit || endB + 1 - start > limit) lines.push("  ... (more lines differ)");
  for (let i = endA + 1; i < Math.min(a.length, endA + 1 + context); i++) lines.push(`  ${String(i + 1).padStart(5)}   ${a[i]}`);
  return lines.join("\n");
}

const cases = existsSync(root)
  ? readdirSync(root, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name).sort()
  : [];

for (const name of cases) {
  const dir = join(root, name);
  test(`golden ${name}`, () => {
    const result = runCase(dir);
    const { pin } = loadProxy(dir);
    // Translation must be deterministic: a second run gives byte-identical output.
    assert.equal(JSON.stringify(runCase(dir)), JSON.stringify(result), "translate is not deterministic");

    for (const what of Object.keys(messageType) as (keyof typeof messageType)[]) {
      for (const resource of result.resources[what]) {
        assert.doesNotThrow(
          () => validateMessage(messageType[what], resource as Parameters<typeof validateMessage>[1]),
          `${what} ${String(resource.name ?? resource.cluster_name)} is not valid Envoy JSON`,
        );
      }
    }

    let compared = 0;
    for (const what of pinnable) {
      const file = join(dir, `${what}.json`);
      const actual = actualOf(result, what);
      if (update && (existsSync(file) || pin.includes(what))) {
        writeFileSync(file, `${JSON.stringify(actual, null, 2)}\n`);
      }
      if (!existsSync(file)) continue;
      compared++;
      const expected: unknown = JSON.parse(readFileSync(file, "utf8"));
      // Deep equality decides (key order does not matter); the line diff only explains.
      if (!isDeepStrictEqual(actual, expected)) {
        const diff = lineDiff(`${JSON.stringify(expected, null, 2)}\n`, `${JSON.stringify(actual, null, 2)}\n`);
        assert.fail(`${name}/${what}.json differs (UPDATE_GOLDEN=1 rewrites it; review the change):\n${diff}`);
      }
    }
    assert.ok(compared > 0, `${name} pins no expected file: add e.g. listeners.json or \`pin: [listeners]\` to proxy.yaml`);
  });
}
