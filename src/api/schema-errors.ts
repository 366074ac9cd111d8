// Turning ajv's errors into diagnostics a person can act on: a field path instead of a
// JSON pointer, words instead of keywords, and what to do about it.
import type { Diagnostic } from "./types.ts";
import { childPath, joinPath, type PathSegment } from "./paths.ts";
import { closestName } from "./kinds-table.ts";
import { pointerSegments, type SchemaError } from "./schema-probe.ts";

/** A JSON pointer as a field path; numeric segments are indexes where the data has an array. */
export function pointerToFieldPath(pointer: string, data: unknown): { path: string; segments: PathSegment[]; value: unknown } {
  const segments: PathSegment[] = [];
  let node: unknown = data;
  for (const raw of pointerSegments(pointer)) {
    const segment: PathSegment = Array.isArray(node) && /^\d+$/.test(raw) ? Number(raw) : raw;
    segments.push(segment);
    node = node === null || node === undefined ? undefined : (node as Record<string | number, unknown>)[segment];
  }
  return { path: joinPath(segments), segments, value: node };
}

function typeOf(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  if (typeof value === "number") return Number.isInteger(value) ? "integer" : "number";
  if (typeof value === "object") return "object";
  return typeof value;
}

/** Does a value of type `actual` satisfy the schema type `wanted`? */
function typeMatches(actual: string, wanted: string): boolean {
  return actual === wanted || (wanted === "number" && actual === "integer");
}

const TYPE_WORDS: Record<string, string> = {
  string: "a string",
  integer: "an integer",
  number: "a number",
  boolean: "true or false",
  array: "a list",
  object: "an object (a mapping of fields)",
  null: "null",
};
const typeWords = (t: string): string => TYPE_WORDS[t] ?? t;

function show(value: unknown): string {
  const text = JSON.stringify(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/** Diagnostics for a validator's errors about `data`, one per distinct problem. */
export function schemaErrorsToDiagnostics(errors: readonly SchemaError[], data: unknown): Diagnostic[] {
  const out: Diagnostic[] = [];
  const seen = new Set<string>();
  const push = (path: string, message: string, fix?: string): void => {
    const key = `${path}\u0000${message}`;
    if (seen.has(key)) return;
    seen.add(key);
    out.push({ severity: "error", path, message, ...(fix ? { fix } : {}) });
  };

  // Alternatives (oneOf/anyOf) report each failed branch's errors at the same place as
  // the alternative itself; they are folded into one message about the alternative.
  const alternativesAt = new Set(errors.filter((e) => e.keyword === "oneOf" || e.keyword === "anyOf").map((e) => e.instancePath));

  for (const err of errors) {
    const { path, value } = pointerToFieldPath(err.instancePath, data);
    const inAlternative = alternativesAt.has(err.instancePath);
    switch (err.keyword) {
      case "oneOf":
      case "anyOf": {
        const here = errors.filter((e) => e.instancePath === err.instancePath);
        const types = here.filter((e) => e.keyword === "type").map((e) => String(e.params.type));
        const required = here.filter((e) => e.keyword === "required").map((e) => String(e.params.missingProperty));
        const passing = err.params.passingSchemas;
        if (types.length > 0 && !types.some((t) => typeMatches(typeOf(value), t))) {
          push(path, `must be ${[...new Set(types)].map(typeWords).join(" or ")}, not ${typeOf(value)} ${show(value)}`);
        } else if (Array.isArray(passing) && typeof value === "object" && value !== null) {
          push(path, `sets ${Object.keys(value).join(", ")}, which cannot be set together`, "set only one of them");
        } else if (required.length > 0) {
          push(path, `must set one of: ${[...new Set(required)].join(", ")}`);
        } else if (types.length === 0) {
          push(path, "does not match any of the allowed forms", "see the Istio reference for this field");
        }
        // else: the value has an accepted type and its own errors (deeper) say what is wrong.
        break;
      }
      case "not":
        // Reported with its oneOf where there is one; alone it forbids a combination of fields.
        if (!inAlternative && typeof value === "object" && value !== null) {
          push(path, `sets ${Object.keys(value).join(", ")}, which cannot be set together`, "set only one of them");
        }
        break;
      case "type":
        if (!inAlternative) push(path, `must be ${typeWords(String(err.params.type))}, not ${typeOf(value)} ${show(value)}`);
        break;
      case "required":
        if (!inAlternative) {
          const field = String(err.params.missingProperty);
          push(childPath(path, field), `required field "${field}" is missing`, `add ${field}`);
        }
        break;
      case "enum": {
        const allowed = (err.params.allowedValues as unknown[]).map(String);
        const close = typeof value === "string" ? closestName(value, allowed) : undefined;
        push(path, `${show(value)} is not one of: ${allowed.join(", ")}`, close ? `did you mean "${close}"?` : undefined);
        break;
      }
      case "additionalProperties": {
        const field = String(err.params.additionalProperty);
        const known = Object.keys(err.parentSchema?.properties ?? {});
        const close = closestName(field, known);
        push(childPath(path, field), `unknown field "${field}"`, close ? `did you mean "${close}"?` : known.length > 0 ? `known fields here: ${known.join(", ")}` : "remove it");
        break;
      }
      case "minimum":
      case "maximum":
      case "exclusiveMinimum":
      case "exclusiveMaximum": {
        const words = { minimum: "at least", maximum: "at most", exclusiveMinimum: "greater than", exclusiveMaximum: "less than" }[err.keyword];
        push(path, `must be ${words} ${String(err.params.limit)}, not ${show(value)}`);
        break;
      }
      case "minItems":
        push(path, `must have at least ${String(err.params.limit)} item${err.params.limit === 1 ? "" : "s"}`);
        break;
      case "maxItems":
        push(path, `must have at most ${String(err.params.limit)} items`);
        break;
      case "minLength":
        push(path, err.params.limit === 1 ? "must not be empty" : `must be at least ${String(err.params.limit)} characters long`);
        break;
      case "maxLength":
        push(path, `must be at most ${String(err.params.limit)} characters long`);
        break;
      case "pattern":
        push(path, `${show(value)} does not match the pattern ${String(err.params.pattern)}`);
        break;
      case "format":
        push(path, `${show(value)} is not a valid ${String(err.params.format)}`);
        break;
      default:
        push(path, err.message ?? `fails the schema's "${err.keyword}" rule`);
    }
  }
  return out;
}
