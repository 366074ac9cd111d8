// FileSource against real temp files: initial load, watch-driven re-apply, an invalid
// file keeping its last valid objects, fixes clearing problems, deletes, conflicts.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, mkdir, rm, writeFile, rename } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FileSource, MemorySource, MemoryStore } from "../../src/config/index.ts";
import type { Diagnostic } from "../../src/api/index.ts";

const WAIT_MS = 5000;

/** Waits (bounded) until `check` holds; the watcher works asynchronously. */
async function eventually(what: string, check: () => boolean): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function service(name: string, port: number, namespace?: string): string {
  return `apiVersion: v1
kind: Service
metadata:
  name: ${name}
${namespace ? `  namespace: ${namespace}\n` : ""}spec:
  selector: {app: ${name}}
  ports:
  - name: http
    port: ${port}
`;
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "skiff-files-"));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const port = (store: MemoryStore, name: string, ns = "default"): number | undefined => store.get("Service", ns, name)?.spec.ports?.[0].port;

test("loads directories recursively with the default namespace; Namespaces stay cluster-scoped", async () => {
  await withDir(async (dir) => {
    await mkdir(join(dir, "sub"));
    await writeFile(join(dir, "a.yaml"), service("a", 80) + "---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: demo\n");
    await writeFile(join(dir, "sub", "b.yml"), service("b", 81, "demo"));
    await writeFile(join(dir, "notes.txt"), "not config");
    await writeFile(join(dir, ".a.yaml.swp"), "editor junk: [");
    const store = new MemoryStore();
    const source = new FileSource(store, [dir], { defaultNamespace: "team" });
    await source.start();
    try {
      assert.deepEqual(
        store.all().map((r) => `${r.kind}/${r.metadata.namespace ?? ""}/${r.metadata.name}`),
        ["Namespace//demo", "Service/demo/b", "Service/team/a"],
      );
      assert.deepEqual(source.diagnostics(), []);
    } finally {
      await source.stop();
    }
  });
});

test("watch: a change re-applies, an invalid file keeps its last valid objects, a fix clears the problem, a delete removes", async () => {
  await withDir(async (dir) => {
    const file = join(dir, "mesh.yaml");
    await writeFile(file, service("a", 80) + "---\n" + service("b", 90));
    const store = new MemoryStore();
    const source = new FileSource(store, [dir], { debounceMs: 20 });
    const published: Diagnostic[][] = [];
    source.onDiagnostics((d) => published.push(d));
    await source.start();
    try {
      assert.equal(port(store, "a"), 80);

      await writeFile(file, service("a", 8080) + "---\n" + service("b", 90));
      await eventually("port change applied", () => port(store, "a") === 8080);

      // Broken YAML: the last valid version stays, with a diagnostic pointing at the file.
      const versionBefore = store.version;
      await writeFile(file, "apiVersion: v1\nkind: Service\nmetadata: {name: a\n");
      await eventually("YAML error reported", () => source.diagnostics().some((d) => d.severity === "error"));
      const error = source.diagnostics().find((d) => d.severity === "error")!;
      assert.equal(error.file, file);
      assert.ok(error.line && error.line >= 1, "the error has a line");
      assert.equal(port(store, "a"), 8080);
      assert.equal(port(store, "b"), 90);
      assert.equal(store.version, versionBefore, "nothing in the store changed");
      assert.ok(published.at(-1)!.length > 0, "listeners heard about the problem");

      // Fixed, and b removed from the file: a's change applies, b goes, problems clear.
      await writeFile(file, service("a", 9000));
      await eventually("fix applied", () => port(store, "a") === 9000 && source.diagnostics().length === 0);
      assert.equal(store.get("Service", "default", "b"), undefined);
      assert.deepEqual(published.at(-1), []);

      await rm(file);
      await eventually("objects of the deleted file removed", () => store.all().length === 0);
    } finally {
      await source.stop();
    }
  });
});

test("a file that turns invalid with well-formed YAML (wrong apiVersion, schema error) also keeps its last valid version", async () => {
  await withDir(async (dir) => {
    const file = join(dir, "we.yaml");
    const entry = (weight: string, version = "v1") => `apiVersion: networking.istio.io/${version}
kind: WorkloadEntry
metadata: {name: vm1}
spec:
  address: 10.0.0.1
  weight: ${weight}
`;
    await writeFile(file, entry("3"));
    const store = new MemoryStore();
    const source = new FileSource(store, [file], { debounceMs: 20 });
    await source.start();
    try {
      assert.equal(store.get("WorkloadEntry", "default", "vm1")?.spec.weight, 3);
      await writeFile(file, entry("4", "v9"));
      await eventually("apiVersion error reported", () => source.diagnostics().some((d) => d.severity === "error" && d.path === "apiVersion"));
      assert.equal(store.get("WorkloadEntry", "default", "vm1")?.spec.weight, 3);
      await writeFile(file, entry("5"));
      await eventually("fix applied", () => store.get("WorkloadEntry", "default", "vm1")?.spec.weight === 5);
      assert.deepEqual(source.diagnostics(), []);

      // A schema error (validation, not loading) does the same.
      await writeFile(file, entry('"heavy"'));
      await eventually("schema error reported", () => source.diagnostics().some((d) => d.severity === "error" && d.path === "spec.weight"));
      const schemaError = source.diagnostics().find((d) => d.path === "spec.weight")!;
      assert.equal(schemaError.file, file);
      assert.equal(schemaError.line, 6);
      assert.equal(store.get("WorkloadEntry", "default", "vm1")?.spec.weight, 5);
      await writeFile(file, entry("6"));
      await eventually("second fix applied", () => store.get("WorkloadEntry", "default", "vm1")?.spec.weight === 6);
      assert.deepEqual(source.diagnostics(), []);
    } finally {
      await source.stop();
    }
  });
});

test("an editor's save by rename over the watched file is picked up", async () => {
  await withDir(async (dir) => {
    const file = join(dir, "svc.yaml");
    await writeFile(file, service("a", 80));
    const store = new MemoryStore();
    const source = new FileSource(store, [file], { debounceMs: 20 });
    await source.start();
    try {
      for (const p of [81, 82]) {
        const tmp = join(dir, `.svc.yaml.${p}.tmp`);
        await writeFile(tmp, service("a", p));
        await rename(tmp, file);
        await eventually(`port ${p} applied after rename`, () => port(store, "a") === p);
      }
    } finally {
      await source.stop();
    }
  });
});

test("two files defining one object: the first wins, the second gets a conflict; removing the first hands over", async () => {
  await withDir(async (dir) => {
    await writeFile(join(dir, "1.yaml"), service("a", 1));
    await writeFile(join(dir, "2.yaml"), service("a", 2));
    const store = new MemoryStore();
    const source = new FileSource(store, [dir], { debounceMs: 20 });
    await source.start();
    try {
      assert.equal(port(store, "a"), 1);
      const [conflict] = source.diagnostics();
      assert.equal(conflict.file, join(dir, "2.yaml"));
      assert.match(conflict.message, /already defined in .*1\.yaml/);
      assert.equal(conflict.line, 4, "points at metadata.name");
      await rm(join(dir, "1.yaml"));
      await eventually("second definition takes over", () => port(store, "a") === 2);
      assert.deepEqual(source.diagnostics(), []);
    } finally {
      await source.stop();
    }
  });
});

test("a missing path is reported and picked up once it appears", async () => {
  await withDir(async (dir) => {
    const file = join(dir, "later.yaml");
    const store = new MemoryStore();
    const source = new FileSource(store, [file], { debounceMs: 20 });
    await source.start();
    try {
      assert.match(source.diagnostics()[0].message, /no such file/);
      await writeFile(file, service("late", 80));
      await eventually("file appeared", () => port(store, "late") === 80);
      assert.deepEqual(source.diagnostics(), []);
    } finally {
      await source.stop();
    }
  });
});

test("MemorySource: all-or-nothing apply, delete, and conflicts with a file source", async () => {
  await withDir(async (dir) => {
    await writeFile(join(dir, "a.yaml"), service("a", 1));
    const store = new MemoryStore();
    const files = new FileSource(store, [dir], { debounceMs: 20 });
    await files.start();
    const memory = new MemorySource(store, { name: "apply" });
    try {
      const svc = (name: string, p: number | string) =>
        ({ apiVersion: "v1", kind: "Service", metadata: { name }, spec: { ports: [{ name: "http", port: p }] } }) as never;
      const bad = memory.apply([svc("m", 80), svc("n", "eighty")]);
      assert.equal(bad.applied, false);
      assert.ok(bad.diagnostics.some((d) => d.severity === "error" && d.name === "n"));
      assert.equal(store.get("Service", "default", "m"), undefined, "nothing of a set with errors is applied");
      assert.ok(memory.diagnostics().length > 0);

      const ok = memory.apply([svc("m", 80), svc("a", 99)]);
      assert.equal(ok.applied, true);
      assert.equal(port(store, "m"), 80);
      assert.equal(port(store, "a"), 1, "the file owns a: first definition wins");
      assert.match(ok.diagnostics.find((d) => d.name === "a")!.message, /already defined in .*a\.yaml/);

      await rm(join(dir, "a.yaml"));
      await eventually("memory source takes a over", () => port(store, "a") === 99);
      assert.deepEqual(memory.diagnostics(), []);

      assert.equal(memory.delete([{ kind: "Service", name: "m" }]), 1);
      assert.equal(store.get("Service", "default", "m"), undefined);
    } finally {
      await files.stop();
    }
  });
});

test("a new subdirectory is watched; moving an object down its file updates its position without a change event", async () => {
  await withDir(async (dir) => {
    const store = new MemoryStore();
    const source = new FileSource(store, [dir], { debounceMs: 20 });
    await source.start();
    let changeLists = 0;
    store.watch(() => changeLists++);
    try {
      // Written right after the directory appears: the source sees the file either by the
      // new directory's watch or by the rescan it makes after adding that watch.
      await mkdir(join(dir, "team"));
      const file = join(dir, "team", "svc.yaml");
      await writeFile(file, service("deep", 80));
      await eventually("file in new subdirectory applied", () => port(store, "deep") === 80);
      assert.equal(changeLists, 1);
      assert.equal(store.get("Service", "default", "deep")?.source?.line, 1);

      await writeFile(file, "# a comment\n# another\n" + service("deep", 80));
      await eventually("new position kept", () => store.get("Service", "default", "deep")?.source?.line === 3);
      assert.equal(changeLists, 1, "moving an object in its file is not a change");
    } finally {
      await source.stop();
    }
  });
});
