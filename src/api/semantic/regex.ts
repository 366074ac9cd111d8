// Regular expressions with RE2 semantics. Envoy compiles route and header regexes with
// RE2, which rejects Perl features JavaScript accepts (lookahead `(?=`, lookbehind,
// backreferences `\1`), so JavaScript's RegExp would say yes to patterns Envoy NACKs.
// re2js is a pure-JS port of RE2's parser and matcher.
import { RE2JS } from "re2js";

// Istio approximates Envoy's RE2 program-size limit by length.
const MAX_REGEX_LENGTH = 1024;

/** Returns why `pattern` is not a valid RE2 regular expression, or undefined. */
export function checkRe2(pattern: string): string | undefined {
  if (pattern === "") return "regex must not be empty";
  if (pattern.length > MAX_REGEX_LENGTH) return `regex is too large (${pattern.length} characters, at most ${MAX_REGEX_LENGTH})`;
  try {
    RE2JS.compile(pattern);
    return undefined;
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    return `invalid RE2 regex ${JSON.stringify(pattern)}: ${message.replace(/^error parsing regexp: /, "")}`;
  }
}

export const RE2_FIX = "use RE2 syntax (https://github.com/google/re2/wiki/Syntax): no lookaround or backreferences";
