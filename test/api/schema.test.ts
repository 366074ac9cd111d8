import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { loadText, validateSchema, validateResources, type Diagnostic } from "../../src/api/index.ts";

const fixture = new URL("./fixtures/istio-docs.yaml", import.meta.url);

function schemaProblems(text: string): Diagnostic[] {
  const { resources, diagnostics } = loadText(text, "s.yaml");
  assert.deepEqual(diagnostics, [], "the text loads");
  return resources.flatMap((r) => validateSchema(r));
}

test("Istio documentation examples of every kind pass the schema", () => {
  const { resources, diagnostics } = loadText(readFileSync(fixture, "utf8"), "istio-docs.yaml");
  assert.deepEqual(diagnostics, []);
  assert.equal(new Set(resources.map((r) => r.kind)).size, 14, "every kind is in the fixture");
  for (const r of resources) assert.deepEqual(validateSchema(r), [], `${r.kind} ${r.metadata.name}`);
});

const vs = (http: string): string => `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: default}
spec:
  hosts: [reviews]
  http:
${http}`;

// Each case: a resource, then the field path and message of the one problem it has.
const CASES: [name: string, text: string, path: string, message: RegExp, fix?: RegExp][] = [
  ["wrong type", vs("  - route:\n    - destination: {host: reviews}\n      weight: \"50\"\n"), "spec.http[0].route[0].weight", /must be an integer, not string "50"/],
  ["list expected", vs("  - match: {uri: {exact: /}}\n    route: [{destination: {host: reviews}}]\n"), "spec.http[0].match", /must be a list/],
  ["unknown field with a close name", vs("  - timeuot: 5s\n    route: [{destination: {host: reviews}}]\n"), "spec.http[0].timeuot", /unknown field "timeuot"/, /did you mean "timeout"\?/],
  ["unknown field with a swapped letter", vs("  - route: [{destination: {host: reviews, prot: {number: 80}}}]\n"), "spec.http[0].route[0].destination.prot", /unknown field "prot"/, /did you mean "port"\?/],
  ["unknown field with no close name", vs("  - route: [{destination: {host: reviews}}]\n    frobnicate: true\n"), "spec.http[0].frobnicate", /unknown field "frobnicate"/, /remove it/],
  ["mutually exclusive fields", vs("  - match: [{uri: {exact: /a, prefix: /b}}]\n    route: [{destination: {host: reviews}}]\n"), "spec.http[0].match[0].uri", /exact, prefix.*cannot be set together/, /only one/],
  [
    "enum with a close value",
    "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: p}\nspec:\n  action: ALOW\n",
    "spec.action",
    /"ALOW" is not one of: ALLOW, DENY, AUDIT, CUSTOM/,
    /did you mean "ALLOW"\?/,
  ],
  [
    "required field",
    "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: d}\nspec:\n  host: reviews\n  subsets:\n  - labels: {version: v1}\n",
    "spec.subsets[0].name",
    /required field "name" is missing/,
  ],
  [
    "Kubernetes Service port out of range",
    "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec:\n  ports: [{port: 80, protocl: TCP}]\n",
    "spec.ports[0].protocl",
    /unknown field "protocl"/,
    /did you mean "protocol"\?/,
  ],
  [
    "Workload without a command",
    "apiVersion: skiff.dev/v1alpha1\nkind: Workload\nmetadata: {name: w}\nspec:\n  replicas: 1\n",
    "spec.command",
    /required field "command" is missing/,
  ],
  [
    "Workload unknown field",
    "apiVersion: skiff.dev/v1alpha1\nkind: Workload\nmetadata: {name: w}\nspec:\n  command: [node]\n  replica: 2\n",
    "spec.replica",
    /unknown field "replica"/,
    /did you mean "replicas"\?/,
  ],
  [
    "Workload port out of range",
    "apiVersion: skiff.dev/v1alpha1\nkind: Workload\nmetadata: {name: w}\nspec:\n  command: [node]\n  ports: [{containerPort: 70000}]\n",
    "spec.ports[0].containerPort",
    /must be at most 65535, not 70000/,
  ],
  [
    "unknown top-level field",
    "apiVersion: v1\nkind: Namespace\nmetadata: {name: n}\nspce: {}\n",
    "spce",
    /unknown field "spce"/,
    /did you mean "spec"\?/,
  ],
];

for (const [name, text, path, message, fix] of CASES) {
  test(`schema: ${name}`, () => {
    const problems = schemaProblems(text);
    assert.equal(problems.length, 1, JSON.stringify(problems));
    const [d] = problems;
    assert.equal(d.severity, "error");
    assert.equal(d.path, path);
    assert.match(d.message, message);
    if (fix) assert.match(d.fix ?? "", fix);
  });
}

test("map keys (labels, headers) are the user's and never unknown fields", () => {
  const problems = schemaProblems(vs("  - match: [{headers: {x-any-name: {exact: a}}, sourceLabels: {anything: goes}}]\n    route: [{destination: {host: reviews}}]\n"));
  assert.deepEqual(problems, []);
});

test("validateResources points each schema problem at its line, with kind and name", () => {
  const text = vs("  - route:\n    - destination: {host: reviews}\n      weight: \"50\"\n");
  const { resources } = loadText(text, "vs.yaml");
  const problems = validateResources(resources).filter((d) => d.path === "spec.http[0].route[0].weight");
  assert.equal(problems.length, 1);
  assert.deepEqual(
    { file: problems[0].file, line: problems[0].line, col: problems[0].col, kind: problems[0].kind, namespace: problems[0].namespace, name: problems[0].name },
    { file: "vs.yaml", line: 9, col: 15, kind: "VirtualService", namespace: "default", name: "reviews" },
  );
});

test("a missing field is located at its nearest ancestor in the file", () => {
  const { resources } = loadText("apiVersion: skiff.dev/v1alpha1\nkind: Workload\nmetadata: {name: w}\nspec:\n  replicas: 1\n", "w.yaml");
  const [d] = validateResources(resources);
  assert.equal(d.path, "spec.command");
  assert.deepEqual([d.line, d.col], [5, 3]);
});

test("resources built in code (no source) are validated too", () => {
  const problems = validateSchema({
    apiVersion: "networking.istio.io/v1",
    kind: "Gateway",
    metadata: { name: "gw", namespace: "default", resourceVersion: "7" },
    spec: { servers: [{ port: { number: "eighty" as unknown as number, protocol: "HTTP", name: "http" }, hosts: ["*"] }] },
  });
  assert.deepEqual(problems.map((d) => d.path), ["spec.servers[0].port.number"]);
});
