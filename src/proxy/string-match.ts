// Envoy's StringMatcher and HeaderMatcher, compiled once per configuration into
// closures. Regexes use RE2 semantics (re2js) so a pattern means what it means in Envoy.
import { RE2JS } from "re2js";
import { ConfigError, obj, onlyFields, str, type Json } from "./json.ts";

export type StringPredicate = (value: string) => boolean;

/** Compile a RE2 pattern, turning syntax errors into a ConfigError at `path`. */
export function compileRegex(pattern: unknown, path: string): RE2JS {
  if (typeof pattern !== "string") throw new ConfigError(path, "regex must be a string");
  try {
    return RE2JS.compile(pattern);
  } catch (err) {
    throw new ConfigError(path, `invalid RE2 regex "${pattern}": ${(err as Error).message}`);
  }
}

/** `safe_regex: {regex}` (google_re2 engine options are harmless). */
export function compileSafeRegex(value: unknown, path: string): RE2JS {
  const o = obj(value);
  if (!o) throw new ConfigError(path, "expected a RegexMatcher object");
  onlyFields(o, path, ["regex"], ["google_re2"]);
  return compileRegex(o.regex, `${path}.regex`);
}

/** Envoy's StringMatcher: exact, prefix, suffix, contains, safe_regex; ignore_case. */
export function compileStringMatcher(value: unknown, path: string): StringPredicate {
  const o = obj(value);
  if (!o) throw new ConfigError(path, "expected a StringMatcher object");
  onlyFields(o, path, ["exact", "prefix", "suffix", "contains", "safe_regex", "ignore_case"]);
  const ignoreCase = o.ignore_case === true;
  const norm = (s: string): string => (ignoreCase ? s.toLowerCase() : s);
  if (typeof o.exact === "string") {
    const want = norm(o.exact);
    return (v) => norm(v) === want;
  }
  if (typeof o.prefix === "string") {
    const want = norm(o.prefix);
    return (v) => norm(v).startsWith(want);
  }
  if (typeof o.suffix === "string") {
    const want = norm(o.suffix);
    return (v) => norm(v).endsWith(want);
  }
  if (typeof o.contains === "string") {
    const want = norm(o.contains);
    return (v) => norm(v).includes(want);
  }
  if (o.safe_regex !== undefined) {
    // ignore_case does not apply to regexes in Envoy either.
    const re = compileSafeRegex(o.safe_regex, `${path}.safe_regex`);
    return (v) => re.matches(v);
  }
  // An empty StringMatcher matches the empty string only (exact "" is omitted by proto3 JSON).
  return (v) => v === "";
}

/** Reads one header of the request being matched (lower-case name; pseudo-headers too). */
export type HeaderLookup = (name: string) => string | undefined;

export type HeaderPredicate = (lookup: HeaderLookup) => boolean;

/** Envoy's HeaderMatcher (route.v3.HeaderMatcher). */
export function compileHeaderMatcher(value: unknown, path: string): HeaderPredicate {
  const o = obj(value) as Json;
  onlyFields(o, path, [
    "name",
    "exact_match",
    "safe_regex_match",
    "prefix_match",
    "suffix_match",
    "contains_match",
    "present_match",
    "string_match",
    "invert_match",
    "treat_missing_header_as_empty",
  ]);
  const name = str(o.name)?.toLowerCase();
  if (!name) throw new ConfigError(`${path}.name`, "header name is required");
  const invert = o.invert_match === true;
  const missingAsEmpty = o.treat_missing_header_as_empty === true;
  let test: StringPredicate | undefined;
  let presentOnly: boolean | undefined;
  if (typeof o.exact_match === "string") test = compileStringMatcher({ exact: o.exact_match }, path);
  else if (typeof o.prefix_match === "string") test = compileStringMatcher({ prefix: o.prefix_match }, path);
  else if (typeof o.suffix_match === "string") test = compileStringMatcher({ suffix: o.suffix_match }, path);
  else if (typeof o.contains_match === "string") test = compileStringMatcher({ contains: o.contains_match }, path);
  else if (o.safe_regex_match !== undefined) {
    const re = compileSafeRegex(o.safe_regex_match, `${path}.safe_regex_match`);
    test = (v) => re.matches(v);
  } else if (o.string_match !== undefined) test = compileStringMatcher(o.string_match, `${path}.string_match`);
  else if (o.present_match !== undefined) presentOnly = o.present_match === true;
  else presentOnly = true; // no match specifier: Envoy checks presence

  return (lookup) => {
    let v = lookup(name);
    if (v === undefined && missingAsEmpty) v = "";
    let result: boolean;
    if (presentOnly !== undefined) result = (v !== undefined) === presentOnly;
    else result = v !== undefined && test!(v);
    // Envoy: invert_match applies to the whole result, including absence.
    return invert ? !result : result;
  };
}

/**
 * The literal text every full match of `pattern` must start with ("" when unknown).
 * WHY: re2js costs microseconds per match; most route regexes start with a literal
 * path ("/items/[0-9]+"), so a startsWith test rejects most paths for nanoseconds.
 */
export function literalPrefix(pattern: string): string {
  if (pattern.includes("|")) return ""; // an alternation may make any branch match
  let out = "";
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if ("\\.^$()[]{}*+?".includes(c)) {
      // A quantifier applies to the previous literal, which is then optional.
      if ((c === "*" || c === "?" || c === "{") && out.length) out = out.slice(0, -1);
      return out;
    }
    out += c;
  }
  return out;
}
