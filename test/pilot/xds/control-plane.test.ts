// The ControlPlane end to end over its real pieces: config files → store → registry →
// translate → ADS, with a sidecar-style client; file edits reach the proxy, problems
// reach /debug, and a proxy id is parsed the way Istio forms it.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ControlPlane } from "../../../src/pilot/index.ts";
import { TypeUrl } from "../../../src/envoy/index.ts";
import { AdsTestClient } from "./ads-client.ts";
import { meshYaml, serviceYaml, workloadEntryYaml } from "../helpers/mesh-yaml.ts";

const SERVICES = meshYaml(
  serviceYaml({ name: "reviews", namespace: "default", port: 9080 }),
  workloadEntryYaml("reviews-v1", "default", "{ address: 127.0.0.21, labels: { app: reviews, version: v1 } }"),
);

const BROKEN_ROUTE = `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: reviews, namespace: default }
spec:
  hosts: [reviews]
  http:
  - delegate: { name: reviews-delegate, namespace: default }
`;

test("config files drive a sidecar's clusters and endpoints; edits are pushed; problems are on /debug", { timeout: 30_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "skiff-cp-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, "services.yaml"), SERVICES);
  const cp = new ControlPlane({ files: [dir], xdsPort: 0, monitoringPort: 0, debounce: { quietMs: 10, maxDelayMs: 100 }, fileDebounceMs: 10, log: () => {} });
  const ports = await cp.start();
  t.after(() => cp.stop());
  const get = async (path: string) => (await fetch(`http://127.0.0.1:${ports.monitoring}${path}`)).json();

  const client = new AdsTestClient(ports.xds, { id: "sidecar~127.0.0.9~productpage-1.default~default.svc.cluster.local", metadata: { NAMESPACE: "default", LABELS: { app: "productpage" } } });
  t.after(() => client.close());
  client.request({ type_url: TypeUrl.cluster }, true);
  const cds = await client.next();
  const clusterNames = (cds.resources ?? []).map((c) => c.name);
  assert.ok(clusterNames.includes("outbound|9080||reviews.default.svc.cluster.local"), `clusters: ${clusterNames.join(", ")}`);
  client.ack(cds);
  client.request({ type_url: TypeUrl.endpoint, resource_names: ["outbound|9080||reviews.default.svc.cluster.local"] });
  const eds = await client.next();
  assert.match(JSON.stringify(eds.resources), /127\.0\.0\.21/);
  client.ack(eds, ["outbound|9080||reviews.default.svc.cluster.local"]);
  client.request({ type_url: TypeUrl.listener });
  const lds = await client.next();
  assert.ok((lds.resources ?? []).length > 0, "the sidecar gets listeners");
  client.ack(lds);

  // No translation problem yet, and everything the translation made encoded.
  assert.deepEqual(await get("/debug/translation_problems"), []);

  // A second endpoint appears in a new file: only EDS is pushed.
  writeFileSync(
    join(dir, "more.yaml"),
    workloadEntryYaml("reviews-v2", "default", "{ address: 127.0.0.22, labels: { app: reviews, version: v2 } }"),
  );
  const pushed = await client.next(10_000);
  assert.equal(pushed.type_url, TypeUrl.endpoint);
  assert.match(JSON.stringify(pushed.resources), /127\.0\.0\.22/);
  client.ack(pushed, ["outbound|9080||reviews.default.svc.cluster.local"]);

  // A VirtualService that validates but cannot be translated (delegation) is reported for this proxy.
  writeFileSync(join(dir, "route.yaml"), BROKEN_ROUTE);
  let problems: { proxy: string; problems: { resource: string; message: string }[] }[] = [];
  for (let i = 0; i < 200 && problems.length === 0; i++) {
    await new Promise((r) => setTimeout(r, 25));
    problems = (await get("/debug/translation_problems")) as typeof problems;
  }
  assert.equal(problems[0]?.proxy, "sidecar~127.0.0.9~productpage-1.default~default.svc.cluster.local");
  assert.ok(problems[0].problems.some((p) => p.resource === "VirtualService/default/reviews"), JSON.stringify(problems));

  // An invalid file is a config problem, shown on /debug/config_problems; the store keeps the rest.
  writeFileSync(join(dir, "bad.yaml"), "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: { name: bad }\nspec: { hosts: 7 }\n");
  let configProblems: { file?: string }[] = [];
  for (let i = 0; i < 200 && configProblems.length === 0; i++) {
    await new Promise((r) => setTimeout(r, 25));
    configProblems = (await get("/debug/config_problems")) as typeof configProblems;
  }
  assert.ok(configProblems.some((d) => d.file?.endsWith("bad.yaml")));
  const metrics = await (await fetch(`http://127.0.0.1:${ports.monitoring}/metrics`)).text();
  assert.match(metrics, /^pilot_xds 1$/m);
  assert.match(metrics, /^pilot_proxy_convergence_time_count \d+$/m);
});
