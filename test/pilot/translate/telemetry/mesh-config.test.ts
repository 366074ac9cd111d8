// The mesh config loader: Istio meshConfig YAML → MeshConfig, and errors with file:line.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { MeshConfigLoadError, loadMeshConfigFile, parseMeshConfig } from "../../../../src/pilot/mesh-config.ts";
import { defaultMeshConfig } from "../../../../src/pilot/translate/index.ts";

function errorsOf(text: string): string[] {
  try {
    parseMeshConfig(text, "mesh.yaml");
  } catch (err) {
    assert.ok(err instanceof MeshConfigLoadError, `not a MeshConfigLoadError: ${String(err)}`);
    return err.message.split("\n");
  }
  assert.fail("expected the mesh config to be rejected");
}

test("Istio's meshConfig fields are read; unset ones keep Skiff's defaults", () => {
  const mesh = parseMeshConfig(
    [
      "accessLogFile: /dev/stdout",
      "accessLogEncoding: JSON",
      "enableTracing: true",
      "defaultConfig:",
      "  tracing:",
      "    sampling: 5",
      "    zipkin: {address: zipkin.istio-system:9411}",
      "extensionProviders:",
      "- name: otel",
      "  opentelemetry: {service: otel.observability.svc.cluster.local, port: 4318, http: {path: /v1/traces}}",
      "- name: otel-grpc",
      "  opentelemetry: {service: otel.observability.svc.cluster.local, port: 4317}",
      "- name: zk",
      "  zipkin: {service: zipkin.istio-system.svc.cluster.local, port: 9411}",
      "- name: logs",
      "  envoyFileAccessLog: {path: /tmp/a.log, logFormat: {text: '%RESPONSE_CODE%'}}",
      "defaultProviders:",
      "  tracing: [otel]",
      "  metrics: [prometheus]",
      "outboundTrafficPolicy: {mode: REGISTRY_ONLY}",
      "trustDomain: example.org",
      "rootNamespace: mesh-root",
      "enableAutoMtls: false",
    ].join("\n"),
    "mesh.yaml",
  );
  assert.equal(mesh.accessLogFile, "/dev/stdout");
  assert.equal(mesh.accessLogEncoding, "JSON");
  assert.equal(mesh.enableTracing, true);
  assert.deepEqual(mesh.defaultConfig?.tracing, { sampling: 5, zipkin: { address: "zipkin.istio-system:9411" } });
  assert.deepEqual(mesh.extensionProviders?.map((p) => p.name), ["otel", "otel-grpc", "zk", "logs"]);
  assert.deepEqual(mesh.extensionProviders?.[0].opentelemetry?.http, { path: "/v1/traces" });
  assert.deepEqual(mesh.extensionProviders?.[1].opentelemetry?.grpc, {}, "no http: OTLP over gRPC, as Istio");
  assert.deepEqual(mesh.defaultProviders, { tracing: ["otel"], metrics: ["prometheus"] });
  assert.deepEqual(mesh.outboundTrafficPolicy, { mode: "REGISTRY_ONLY" });
  assert.equal(mesh.trustDomain, "example.org");
  assert.equal(mesh.rootNamespace, "mesh-root");
  assert.equal(mesh.enableAutoMtls, false);
  assert.equal(mesh.domain, defaultMeshConfig.domain);
});

test("an empty file is Skiff's default mesh config", () => {
  assert.deepEqual(parseMeshConfig("", "mesh.yaml"), defaultMeshConfig);
});

test("a ConfigMap with data.mesh or an IstioOperator-style meshConfig block loads", () => {
  const cm = parseMeshConfig("apiVersion: v1\nkind: ConfigMap\ndata:\n  mesh: |-\n    accessLogFile: /dev/stdout\n", "istio.yaml");
  assert.equal(cm.accessLogFile, "/dev/stdout");
  const wrapped = parseMeshConfig("meshConfig:\n  rootNamespace: other\n", "op.yaml");
  assert.equal(wrapped.rootNamespace, "other");
});

test("bad fields are reported with file:line, the field and the fix", () => {
  const lines = errorsOf(
    [
      "accessLogEncoding: XML", // 1
      "enableTracing: yes please", // 2
      "extensionProviders:", // 3
      "- name: zk", // 4
      "  zipkin: {service: zipkin, port: 99999}", // 5
      "- name: zk", // 6
      "  prometheus: {}", // 7
      "- name: sky", // 8
      "  skywalking: {service: s, port: 1}", // 9
      "defaultProviders:", // 10
      "  tracing: [nope]", // 11
      "accesLogFile: /dev/stdout", // 12
    ].join("\n"),
  );
  assert.deepEqual(lines.map((l) => l.split(": ")[0]), [
    "mesh.yaml:1",
    "mesh.yaml:2",
    "mesh.yaml:5",
    "mesh.yaml:6",
    "mesh.yaml:8",
    "mesh.yaml:11",
    "mesh.yaml:12",
  ]);
  assert.match(lines[0], /accessLogEncoding: "XML" is not one of TEXT, JSON/);
  assert.match(lines[2], /extensionProviders\[0\]\.zipkin\.port: must be a port number/);
  assert.match(lines[3], /"zk" is used by an earlier provider/);
  assert.match(lines[4], /skywalking is not supported/);
  assert.match(lines[5], /provider "nope" is not defined; add it to extensionProviders/);
  assert.match(lines[6], /accesLogFile: unknown meshConfig field/);
});

test("a JSON accessLogFormat that is not a JSON object is rejected at load time", () => {
  const [line] = errorsOf("accessLogEncoding: JSON\naccessLogFormat: '%RESPONSE_CODE%'\n");
  assert.match(line, /^mesh\.yaml:2: accessLogFormat: with accessLogEncoding JSON this must be a JSON object/);
});

test("invalid YAML names the line", () => {
  const [line] = errorsOf("accessLogFile: /dev/stdout\n  bad: [\n");
  assert.match(line, /^mesh\.yaml:\d+: not valid YAML/);
});

test("loadMeshConfigFile reads the file; a missing file is a clear error", () => {
  const dir = mkdtempSync(join(tmpdir(), "skiff-mesh-"));
  try {
    const file = join(dir, "mesh.yaml");
    writeFileSync(file, "accessLogFile: /tmp/x.log\n");
    assert.equal(loadMeshConfigFile(file).accessLogFile, "/tmp/x.log");
    assert.throws(() => loadMeshConfigFile(join(dir, "absent.yaml")), /absent\.yaml:1: cannot read the mesh config: ENOENT/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
