// The validation corpus: every file under corpus/valid must load and validate without an
// error; every file under corpus/invalid holds one resource with one problem and says in
// its first line which diagnostic that problem must produce:
//
//   # expect: error spec.http[0].route: weights must sum to 100
//
// (severity, the exact field path, then a substring of the message). Each file is its own
// test, so a failure names the file.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { loadText, validateResources, formatDiagnostic, type Diagnostic } from "../../src/api/index.ts";

const corpus = fileURLToPath(new URL("./corpus/", import.meta.url));
const validDir = join(corpus, "valid");
const invalidDir = join(corpus, "invalid");
const yamlFiles = (dir: string): string[] => readdirSync(dir).filter((f) => f.endsWith(".yaml")).sort();

/** Everything a user would see for one file: load problems, then schema and semantic ones. */
function diagnose(file: string): { text: string; resources: number; diagnostics: Diagnostic[] } {
  const text = readFileSync(file, "utf8");
  const loaded = loadText(text, file);
  return { text, resources: loaded.resources.length, diagnostics: [...loaded.diagnostics, ...validateResources(loaded.resources)] };
}

const show = (ds: Diagnostic[]): string => ds.map((d) => `  ${d.severity} ${formatDiagnostic(d)}`).join("\n") || "  (none)";

interface Expectation {
  severity: "error" | "warning";
  path: string;
  message: string;
}

const EXPECT = /^# expect: (error|warning) (\S*): (.+)$/m;

function expectationOf(text: string, file: string): Expectation {
  const m = EXPECT.exec(text);
  assert.ok(m, `${file} has no "# expect: error PATH: MESSAGE" header`);
  return { severity: m[1] as Expectation["severity"], path: m[2], message: m[3].trim() };
}

test("the corpus has at least 30 valid and 60 invalid files", () => {
  assert.ok(yamlFiles(validDir).length >= 30, `only ${yamlFiles(validDir).length} valid files`);
  assert.ok(yamlFiles(invalidDir).length >= 60, `only ${yamlFiles(invalidDir).length} invalid files`);
});

for (const name of yamlFiles(validDir)) {
  test(`valid/${name} has no errors`, () => {
    const { resources, diagnostics } = diagnose(join(validDir, name));
    assert.ok(resources >= 1, `valid/${name} loaded no resources`);
    const errors = diagnostics.filter((d) => d.severity === "error");
    assert.equal(errors.length, 0, `valid/${name} should validate, got:\n${show(errors)}`);
  });
}

for (const name of yamlFiles(invalidDir)) {
  test(`invalid/${name}`, () => {
    const file = join(invalidDir, name);
    const { text, diagnostics } = diagnose(file);
    const want = expectationOf(text, name);
    const found = diagnostics.find((d) => d.severity === want.severity && d.path === want.path && d.message.includes(want.message));
    assert.ok(found, `invalid/${name}: expected ${want.severity} at ${want.path} containing "${want.message}", got:\n${show(diagnostics)}`);
    // One problem per file: the expected diagnostic is the only error, so a file cannot
    // pass by tripping over some other, unintended mistake.
    const errors = diagnostics.filter((d) => d.severity === "error");
    assert.equal(errors.length, 1, `invalid/${name} should have exactly one error, got:\n${show(errors)}`);
  });
}

test("every error in the invalid corpus points at its file, line and column", () => {
  for (const name of yamlFiles(invalidDir)) {
    const file = join(invalidDir, name);
    const { text, diagnostics } = diagnose(file);
    const lines = text.split("\n").length;
    for (const d of diagnostics.filter((x) => x.severity === "error")) {
      assert.equal(d.file, file, `${name}: ${formatDiagnostic(d)} names the wrong file`);
      assert.ok(Number.isInteger(d.line) && Number.isInteger(d.col), `${name}: ${formatDiagnostic(d)} has no line/col`);
      // Line 1 is the expectation comment, so a real position is below it and inside the file.
      assert.ok(d.line! > 1 && d.line! <= lines, `${name}: line ${d.line} is outside the resource`);
      assert.ok(d.col! >= 1, `${name}: column ${d.col} is not 1-based`);
    }
  }
});
