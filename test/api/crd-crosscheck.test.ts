// Cross-checks the kind table against Istio's own CRD file in ../shared (present in the
// project's workspace and CI, not on a user's machine; skipped with a message when absent).
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { parseAllDocuments } from "yaml";
import { KINDS, acceptedApiVersions } from "../../src/api/index.ts";

const crdFile = new URL("../../../shared/istio/crds/customresourcedefinitions.gen.yaml", import.meta.url).pathname;
const skip = existsSync(crdFile) ? false : `Istio's CRD file is not at ${crdFile}; the cross-check needs the shared workspace`;

interface CrdVersion {
  name: string;
  served: boolean;
  schema?: { openAPIV3Schema?: { properties?: { spec?: unknown } } };
}
interface Crd {
  kind: string;
  spec: { group: string; names: { kind: string }; versions: CrdVersion[] };
}

let crds: Crd[] | undefined;
/** The CRDs, parsed once: the file is large (~19,000 lines). */
function readCrds(): Crd[] {
  return (crds ??= parseAllDocuments(readFileSync(crdFile, "utf8"))
    .map((d) => d.toJS() as Crd | null)
    .filter((d): d is Crd => d?.kind === "CustomResourceDefinition"));
}

/** A schema without its prose: descriptions may differ between versions, the shape must not. */
function withoutDescriptions(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutDescriptions);
  if (typeof value !== "object" || value === null) return value;
  return Object.fromEntries(Object.entries(value).filter(([k]) => k !== "description").map(([k, v]) => [k, withoutDescriptions(v)]));
}

const istioKinds = KINDS.filter((k) => k.group.endsWith(".istio.io"));

test("every Istio kind and version Skiff accepts is served by Istio's CRDs", { skip }, () => {
  const all = readCrds();
  for (const info of istioKinds) {
    const crd = all.find((c) => c.spec.group === info.group && c.spec.names.kind === info.kind);
    assert.ok(crd, `Istio has a CRD for ${info.group} ${info.kind}`);
    const served = crd.spec.versions.filter((v) => v.served).map((v) => v.name);
    for (const version of info.versions) assert.ok(served.includes(version), `${info.kind} ${version} is served (served: ${served.join(", ")})`);
    assert.deepEqual(acceptedApiVersions(info).sort(), info.versions.map((v) => `${info.group}/${v}`).sort());
  }
});

test("the versions of each Istio kind share one spec schema, so normalizing the version is lossless", { skip }, () => {
  const all = readCrds();
  for (const info of istioKinds) {
    const crd = all.find((c) => c.spec.group === info.group && c.spec.names.kind === info.kind);
    assert.ok(crd);
    const specs = info.versions.map((name) => {
      const version = crd.spec.versions.find((v) => v.name === name);
      const spec = version?.schema?.openAPIV3Schema?.properties?.spec;
      assert.ok(spec, `${info.kind} ${name} has a spec schema`);
      return withoutDescriptions(spec);
    });
    for (let i = 1; i < specs.length; i++) {
      assert.deepEqual(specs[i], specs[0], `${info.kind}: ${info.versions[i]} and ${info.versions[0]} have the same spec schema`);
    }
  }
});
