// The demo's mesh and Istio files: valid for `skiff validate`, and consistent with the
// apps (what the page links is routed to sa-frontend, the APIs it calls reach their
// apps, Services point at ports the Workloads have, the canary splits 90/10).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { parseAllDocuments } from "yaml";
import type { HTTPMatchRequest, KubeServiceSpec, VirtualServiceSpec, WorkloadSpec } from "../../src/api/index.ts";

const repoRoot = fileURLToPath(new URL("../../", import.meta.url));
const demoDir = path.join(repoRoot, "samples/sentiment");

interface Doc {
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  spec: unknown;
  file: string;
}

function load(relative: string): Doc[] {
  const file = path.join(demoDir, relative);
  return parseAllDocuments(readFileSync(file, "utf8")).map((d) => ({ ...(d.toJS() as Omit<Doc, "file">), file }));
}

const mesh = load("mesh.yaml");
const ofKind = (docs: Doc[], kind: string) => docs.filter((d) => d.kind === kind);
const APPS = ["sa-frontend", "sa-webapp", "sa-logic", "sa-feedback"];

test("skiff validate passes the whole demo with no errors and no warnings", () => {
  const run = spawnSync(process.execPath, ["bin/skiff.js", "validate", "-f", "samples/sentiment"], { cwd: repoRoot, encoding: "utf8", timeout: 60_000 });
  assert.equal(run.status, 0, run.stdout + run.stderr);
  assert.match(run.stdout, /\b0 errors, 0 warnings\b/);
});

test("mesh.yaml: namespace demo with injection; per app a Service whose targetPort is the Workload's port", () => {
  const [namespace] = ofKind(mesh, "Namespace");
  assert.equal(namespace.metadata.name, "demo");
  assert.equal(namespace.metadata.labels?.["istio-injection"], "enabled");
  for (const app of APPS) {
    const service = ofKind(mesh, "Service").find((d) => d.metadata.name === app);
    const workload = ofKind(mesh, "Workload").find((d) => d.metadata.name === app);
    assert.ok(service && workload, app);
    const serviceSpec = service.spec as KubeServiceSpec;
    const workloadSpec = workload.spec as WorkloadSpec;
    assert.equal(service.metadata.namespace, "demo");
    assert.equal(workload.metadata.namespace, "demo");
    assert.deepEqual(serviceSpec.ports, [{ name: "http", port: 80, targetPort: "http" }], app);
    assert.deepEqual(workloadSpec.ports, [{ name: "http", containerPort: 0 }], app);
    for (const [key, value] of Object.entries(serviceSpec.selector ?? {})) assert.equal(workloadSpec.labels?.[key], value, `${app} selector ${key}`);
    assert.equal(workloadSpec.labels?.version, "v1");
    assert.equal(workloadSpec.readinessProbe?.httpGet?.path, "/healthz");
    // The command's script exists relative to the file's directory (the runtime's default workingDir).
    const script = workloadSpec.command.find((arg) => arg.endsWith(".ts"));
    assert.ok(script && existsSync(path.join(demoDir, script)), `${app}: ${script} exists under samples/sentiment/`);
  }
  assert.equal((ofKind(mesh, "Workload").find((d) => d.metadata.name === "sa-logic")?.spec as WorkloadSpec).replicas, 2);
});

test("sa-logic v2: the same app labelled version v2, its script found from istio/", () => {
  const [v2] = load("istio/sa-logic-v2.yaml");
  const spec = v2.spec as WorkloadSpec;
  assert.deepEqual(spec.labels, { app: "sa-logic", version: "v2" });
  assert.deepEqual(spec.env, { VERSION: "v2", ERROR_RATE: "0" });
  const script = spec.command.find((arg) => arg.endsWith(".ts"));
  assert.ok(script && path.resolve(demoDir, "istio", script) === path.join(demoDir, "sa-logic/server.ts"), script);
});

/** Does one Istio HTTPMatchRequest match a path? (uri exact / prefix / regex, RE2 ⊂ JS here) */
function uriMatches(match: HTTPMatchRequest, urlPath: string): boolean {
  const uri = match.uri;
  if (!uri) return true;
  if (uri.exact !== undefined) return urlPath === uri.exact;
  if (uri.prefix !== undefined) return urlPath.startsWith(uri.prefix);
  if (uri.regex !== undefined) return new RegExp(`^(?:${uri.regex})$`).test(urlPath);
  return false;
}

function routeFor(vs: VirtualServiceSpec, urlPath: string): string | undefined {
  for (const rule of vs.http ?? []) {
    if (!rule.match || rule.match.some((m) => uriMatches(m, urlPath))) return rule.route?.[0]?.destination.host;
  }
  return undefined;
}

test("the ingress VirtualService sends the page and every file it links to sa-frontend, and the APIs to their apps", () => {
  const [gateway] = load("istio/http-gateway.yaml");
  const [vs] = load("istio/vs-route-ingress.yaml");
  const spec = vs.spec as VirtualServiceSpec;
  assert.deepEqual(spec.gateways, [gateway.metadata.name]);
  assert.deepEqual(spec.hosts, ["*"]);

  const html = readFileSync(path.join(demoDir, "sa-frontend/static/index.html"), "utf8");
  const linked = [...html.matchAll(/(?:src|href)="(\/[^"]*)"/g)].map((m) => m[1]);
  assert.ok(linked.length >= 4);
  for (const urlPath of ["/", ...linked]) assert.equal(routeFor(spec, urlPath), "sa-frontend", urlPath);

  // The paths the page's script calls.
  const script = readFileSync(path.join(demoDir, "sa-frontend/static/app.js"), "utf8");
  const calls = [...script.matchAll(/postJson\("(\/[a-z]+)"/g)].map((m) => m[1]).sort();
  assert.deepEqual(calls, ["/feedback", "/sentiment"]);
  assert.equal(routeFor(spec, "/sentiment"), "sa-webapp");
  assert.equal(routeFor(spec, "/feedback"), "sa-feedback");
  assert.equal(routeFor(spec, "/analyse/sentiment"), undefined, "sa-logic is not exposed at the ingress");
});

test("sa-logic: subsets by version, v1-only and 90/10 canary VirtualServices under one name", () => {
  const [dr] = load("istio/sa-logic-dr.yaml");
  assert.deepEqual((dr.spec as { subsets: unknown }).subsets, [
    { name: "v1", labels: { version: "v1" } },
    { name: "v2", labels: { version: "v2" } },
  ]);
  const [v1Only] = load("istio/sa-logic-vs.yaml");
  const [canary] = load("istio/sa-logic-vs-canary.yaml");
  assert.equal(v1Only.metadata.name, canary.metadata.name, "applying one replaces the other");
  const routes = (doc: Doc) => ((doc.spec as VirtualServiceSpec).http ?? []).flatMap((r) => r.route ?? []).map((r) => [r.destination.subset, r.weight ?? 100]);
  assert.deepEqual(routes(v1Only), [["v1", 100]]);
  assert.deepEqual(routes(canary), [
    ["v1", 90],
    ["v2", 10],
  ]);
});
