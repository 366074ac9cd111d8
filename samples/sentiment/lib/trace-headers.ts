// The headers an app must copy from its incoming request to its outgoing ones so the
// mesh can stitch the spans of one request together. Sidecars create spans but cannot
// know which outbound call belongs to which inbound request: only the app can, by
// propagating these (Istio's list: Envoy's request id, W3C Trace Context, Zipkin B3 in
// multi- and single-header form, and the Lightstep/OpenTracing context).
import type { IncomingHttpHeaders } from "node:http";

export const TRACE_HEADERS = [
  "x-request-id",
  "traceparent",
  "tracestate",
  "x-b3-traceid",
  "x-b3-spanid",
  "x-b3-parentspanid",
  "x-b3-sampled",
  "x-b3-flags",
  "b3",
  "x-ot-span-context",
] as const;

/** The trace headers present on `incoming`, ready to pass to an outbound request. */
export function traceHeadersOf(incoming: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of TRACE_HEADERS) {
    const value = incoming[name];
    // Node joins repeated headers with ", " except for a few; these are single-valued.
    if (typeof value === "string") out[name] = value;
    else if (Array.isArray(value) && value.length > 0) out[name] = value.join(", ");
  }
  return out;
}
