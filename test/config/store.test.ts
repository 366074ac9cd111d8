import { test } from "node:test";
import assert from "node:assert/strict";
// The store alone (not the index), so this file does not pay for loading the validators.
import { MemoryStore } from "../../src/config/store.ts";
import type { ConfigChange } from "../../src/config/types.ts";
import type { AnyResource } from "../../src/api/types.ts";

function vs(name: string, namespace: string, hosts: string[]): AnyResource {
  return { apiVersion: "networking.istio.io/v1", kind: "VirtualService", metadata: { name, namespace }, spec: { hosts } };
}

test("upsert stores a copy with a resourceVersion and bumps the store version", () => {
  const store = new MemoryStore();
  assert.equal(store.version, 0);
  const input = vs("a", "ns", ["a"]);
  const stored = store.upsert(input);
  assert.equal(store.version, 1);
  assert.equal(stored.metadata.resourceVersion, "1");
  assert.equal(input.metadata.resourceVersion, undefined, "the caller's object is not touched");
  assert.deepEqual(store.get("VirtualService", "ns", "a")?.spec, { hosts: ["a"] });
  const updated = store.upsert(vs("a", "ns", ["a", "b"]));
  assert.equal(updated.metadata.resourceVersion, "2");
  assert.equal(updated.metadata.generation, 2);
  assert.throws(() => {
    (updated.spec as { hosts: string[] }).hosts.push("c");
  }, "stored objects are frozen");
});

test("an identical upsert is a no-op: no version bump, no event", () => {
  const store = new MemoryStore();
  const seen: ConfigChange[][] = [];
  store.watch((c) => seen.push(c));
  store.upsert(vs("a", "ns", ["a"]));
  store.upsert(vs("a", "ns", ["a"]));
  assert.equal(store.version, 1);
  assert.equal(seen.length, 1);
  assert.equal(seen[0][0].type, "added");
});

test("delete emits the object as it was and reports whether it existed", () => {
  const store = new MemoryStore();
  store.upsert(vs("a", "ns", ["a"]));
  const seen: ConfigChange[][] = [];
  store.watch((c) => seen.push(c));
  assert.equal(store.delete("VirtualService", "ns", "a"), true);
  assert.equal(store.delete("VirtualService", "ns", "a"), false);
  assert.equal(store.get("VirtualService", "ns", "a"), undefined);
  assert.deepEqual(
    seen.map((b) => b.map((c) => [c.type, c.resource.metadata.name, c.version])),
    [[["deleted", "a", 2]]],
  );
});

test("all() and list() are sorted by kind, namespace, name whatever the insertion order", () => {
  const store = new MemoryStore();
  const svc: AnyResource = { apiVersion: "v1", kind: "Service", metadata: { name: "z", namespace: "a" }, spec: {} };
  store.upsert(vs("b", "ns2", []));
  store.upsert(svc);
  store.upsert(vs("c", "ns1", []));
  store.upsert(vs("a", "ns2", []));
  assert.deepEqual(
    store.all().map((r) => `${r.kind}/${r.metadata.namespace}/${r.metadata.name}`),
    ["Service/a/z", "VirtualService/ns1/c", "VirtualService/ns2/a", "VirtualService/ns2/b"],
  );
  assert.deepEqual(store.list("VirtualService", "ns2").map((r) => r.metadata.name), ["a", "b"]);
  assert.deepEqual(store.list("Service").map((r) => r.metadata.name), ["z"]);
});

test("changes made in one batch reach watchers as one list", () => {
  const store = new MemoryStore();
  const seen: ConfigChange[][] = [];
  const stop = store.watch((c) => seen.push(c));
  store.batch(() => {
    store.upsert(vs("a", "ns", []));
    store.upsert(vs("b", "ns", []));
    store.delete("VirtualService", "ns", "a");
    assert.equal(seen.length, 0, "nothing is announced mid-batch");
  });
  assert.deepEqual(seen.map((b) => b.map((c) => c.type)), [["added", "added", "deleted"]]);
  stop();
  store.upsert(vs("c", "ns", []));
  assert.equal(seen.length, 1, "an unsubscribed watcher hears nothing");
});

test("an identical upsert keeps the very stored object; one that only moved in its file keeps the new position", () => {
  const store = new MemoryStore();
  const at = (line: number) => ({ file: "/m.yaml", line, col: 1, fields: new Map() });
  const first = store.upsert({ ...vs("a", "ns", ["a"]), source: at(1) });
  assert.equal(store.upsert({ ...vs("a", "ns", ["a"]), source: at(1) }), first);
  const moved = store.upsert({ ...vs("a", "ns", ["a"]), source: at(9) });
  assert.equal(moved.source?.line, 9);
  assert.equal(store.get("VirtualService", "ns", "a")?.source?.line, 9);
  assert.equal(moved.metadata.resourceVersion, "1");
  assert.equal(store.version, 1);
});
