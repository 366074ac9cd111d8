// The Registry follows its config store: endpoints appear and disappear with the
// WorkloadEntries that back them, including when the entries come from watched files.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FileSource, MemoryStore } from "../../src/config/index.ts";
import { Registry, endpointKey } from "../../src/registry/index.ts";
import type { RegistrySnapshot } from "../../src/registry/index.ts";
import type { AnyResource } from "../../src/api/index.ts";

const HOST = "web.demo.svc.cluster.local";
const svc: AnyResource = { apiVersion: "v1", kind: "Service", metadata: { name: "web", namespace: "demo" }, spec: { selector: { app: "web" }, ports: [{ name: "http", port: 80, targetPort: "http" }] } };
const we = (name: string, address: string, port: number): AnyResource => ({
  apiVersion: "networking.istio.io/v1",
  kind: "WorkloadEntry",
  metadata: { name, namespace: "demo" },
  spec: { address, ports: { http: port }, labels: { app: "web" } },
});
const addresses = (s: RegistrySnapshot) => (s.endpoints.get(endpointKey(HOST, 80)) ?? []).map((e) => `${e.address}:${e.port}`);

test("adding and removing a WorkloadEntry makes its endpoint appear and disappear", () => {
  const store = new MemoryStore();
  store.upsert(svc);
  const registry = new Registry(store);
  const seen: RegistrySnapshot[] = [];
  registry.onChange((s) => seen.push(s));
  assert.deepEqual(addresses(registry.snapshot()), []);

  store.upsert(we("w1", "10.0.0.1", 8080));
  assert.deepEqual(addresses(registry.snapshot()), ["10.0.0.1:8080"]);
  store.batch(() => {
    store.upsert(we("w2", "10.0.0.2", 8081));
    store.upsert(we("w3", "10.0.0.3", 8082));
  });
  assert.deepEqual(addresses(registry.snapshot()), ["10.0.0.1:8080", "10.0.0.2:8081", "10.0.0.3:8082"]);
  store.delete("WorkloadEntry", "demo", "w1");
  assert.deepEqual(addresses(registry.snapshot()), ["10.0.0.2:8081", "10.0.0.3:8082"]);
  assert.equal(seen.length, 3, "one snapshot per store change list");
  assert.equal(seen.at(-1)!.version, store.version);

  // Config that does not feed the registry does not produce snapshots.
  store.upsert({ apiVersion: "networking.istio.io/v1", kind: "VirtualService", metadata: { name: "vs", namespace: "demo" }, spec: { hosts: ["web"] } });
  assert.equal(seen.length, 3);
  registry.close();
  store.upsert(we("w4", "10.0.0.4", 1));
  assert.equal(seen.length, 3, "a closed registry stops listening");
});

test("live from files: a WorkloadEntry file written and deleted changes the endpoints", async () => {
  const dir = await mkdtemp(join(tmpdir(), "skiff-registry-"));
  const store = new MemoryStore();
  const source = new FileSource(store, [dir], { debounceMs: 20 });
  const registry = new Registry(store);
  try {
    await writeFile(join(dir, "svc.yaml"), "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: demo}\nspec:\n  selector: {app: web}\n  ports: [{name: http, port: 80, targetPort: http}]\n");
    await source.start();
    assert.deepEqual(addresses(registry.snapshot()), []);
    const next = () =>
      new Promise<RegistrySnapshot>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error("no registry change within 5 s")), 5000);
        const off = registry.onChange((s) => {
          clearTimeout(timer);
          off();
          resolve(s);
        });
      });
    let changed = next();
    await writeFile(join(dir, "vm.yaml"), "apiVersion: networking.istio.io/v1\nkind: WorkloadEntry\nmetadata: {name: vm, namespace: demo}\nspec:\n  address: 10.1.2.3\n  ports: {http: 9000}\n  labels: {app: web}\n");
    assert.deepEqual(addresses(await changed), ["10.1.2.3:9000"]);
    changed = next();
    await rm(join(dir, "vm.yaml"));
    assert.deepEqual(addresses(await changed), []);
  } finally {
    registry.close();
    await source.stop();
    await rm(dir, { recursive: true, force: true });
  }
});
