// HTTP header names in matches and header operations. Envoy accepts RFC 7230 tokens;
// Istio additionally refuses to let routes rewrite pseudo-headers and Host through
// header operations (use rewrite.authority instead).

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

export function checkHeaderName(name: string): string | undefined {
  if (name === "") return "header name must not be empty";
  if (!TOKEN.test(name)) return `"${name}" is not a valid HTTP header name`;
  return undefined;
}

/**
 * Names in headers.request/response set/add/remove. Only request set/add may name the
 * authority (`host` / `:authority`), as Istio allows; other pseudo-headers never.
 */
export function checkHeaderOperationName(name: string, opts: { allowAuthority?: boolean } = {}): string | undefined {
  const lower = name.toLowerCase();
  if (opts.allowAuthority && (lower === "host" || lower === ":authority")) return undefined;
  if (name.startsWith(":")) return `pseudo-header "${name}" cannot be changed by a header operation`;
  if (lower === "host") return 'header "host" can only be set on requests';
  return checkHeaderName(name);
}
