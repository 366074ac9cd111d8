import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, mkdirSync, writeFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { loadPaths } from "../../src/api/index.ts";

const ns = (name: string): string => `apiVersion: v1\nkind: Namespace\nmetadata: {name: ${name}}\n`;

function tree(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), "skiff-api-"));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(root, path, ".."), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

test("a directory is read recursively, config files only, in sorted order", async (t) => {
  const root = tree({
    "b.yaml": ns("b"),
    "a.yml": ns("a"),
    "sub/c.json": JSON.stringify({ apiVersion: "v1", kind: "Namespace", metadata: { name: "c" } }),
    "sub/deeper/d.yaml": ns("d") + "---\n" + ns("e"),
    "README.md": "not config",
    "notes.txt": ns("ignored"),
  });
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const { resources, diagnostics } = await loadPaths([root]);
  assert.deepEqual(diagnostics, []);
  assert.deepEqual(resources.map((r) => r.metadata.name), ["a", "b", "c", "d", "e"]);
  assert.equal(resources[2].source?.file, join(root, "sub/c.json"));
  assert.equal(resources[4].source?.line, 5);
});

test("files, directories and stdin combine in the order given", async (t) => {
  const root = tree({ "one.yaml": ns("one"), "dir/two.yaml": ns("two") });
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const { resources } = await loadPaths([join(root, "dir"), "-", join(root, "one.yaml")], { stdin: ns("from-stdin") });
  assert.deepEqual(resources.map((r) => [r.metadata.name, r.source?.file]), [
    ["two", join(root, "dir/two.yaml")],
    ["from-stdin", "<stdin>"],
    ["one", join(root, "one.yaml")],
  ]);
});

test("a path that does not exist is an error naming it; the other paths still load", async (t) => {
  const root = tree({ "ok.yaml": ns("ok") });
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const missing = join(root, "missing.yaml");
  const { resources, diagnostics } = await loadPaths([missing, join(root, "ok.yaml")]);
  assert.deepEqual(resources.map((r) => r.metadata.name), ["ok"]);
  assert.equal(diagnostics.length, 1);
  assert.equal(diagnostics[0].severity, "error");
  assert.equal(diagnostics[0].file, missing);
  assert.match(diagnostics[0].message, /no such file or directory/);
});

test("an empty file in a directory is a warning naming the file", async (t) => {
  const root = tree({ "empty.yaml": "", "full.yaml": ns("full") });
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const { resources, diagnostics } = await loadPaths([root]);
  assert.equal(resources.length, 1);
  assert.deepEqual(diagnostics.map((d) => [d.severity, d.file, d.message]), [["warning", join(root, "empty.yaml"), "file has no resources"]]);
});
