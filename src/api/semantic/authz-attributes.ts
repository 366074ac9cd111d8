// The `when` keys of an AuthorizationPolicy (Istio's authorization conditions) and what
// their values must look like.
import { checkIpOrCidr } from "./net.ts";
import { isPortNumber } from "./ports.ts";

type ValueCheck = (value: string) => string | undefined;

const ip: ValueCheck = (v) => checkIpOrCidr(v);
const port: ValueCheck = (v) => (/^\d+$/.test(v) && isPortNumber(Number(v)) ? undefined : `"${v}" is not a port number in the range 1..65535`);
const any: ValueCheck = () => undefined;

const EXACT_KEYS: Record<string, ValueCheck> = {
  "source.ip": ip,
  "remote.ip": ip,
  "source.namespace": any,
  "source.principal": any,
  "source.serviceAccount": any,
  "request.auth.principal": any,
  "request.auth.audiences": any,
  "request.auth.presenter": any,
  "destination.ip": ip,
  "destination.port": port,
  "connection.sni": any,
};

// `request.headers[name]`, `request.auth.claims[name]` and nested claims `[a][b]`.
const HEADER_KEY = /^request\.headers\[[^[\]]+\]$/;
const CLAIM_KEY = /^request\.auth\.claims(\[[^[\]]+\])+$/;
const EXPERIMENTAL_KEY = /^experimental\.envoy\.filters\.[A-Za-z0-9_.]+\[[^[\]]+\](\[[^[\]]+\])*$/;

export const SUPPORTED_KEYS = [...Object.keys(EXACT_KEYS), "request.headers[NAME]", "request.auth.claims[NAME]", "experimental.envoy.filters.*"];

/** Returns a check for the values of `key`, or a problem if the key is not a known attribute. */
export function attributeCheck(key: string): { check: ValueCheck } | { problem: string } {
  const exact = EXACT_KEYS[key];
  if (exact) return { check: exact };
  if (HEADER_KEY.test(key) || CLAIM_KEY.test(key) || EXPERIMENTAL_KEY.test(key)) return { check: any };
  if (key.startsWith("request.headers") || key.startsWith("request.auth.claims")) {
    return { problem: `key "${key}" needs a name in brackets, e.g. ${key.startsWith("request.headers") ? "request.headers[x-user]" : "request.auth.claims[groups]"}` };
  }
  return { problem: `unknown attribute "${key}"` };
}
