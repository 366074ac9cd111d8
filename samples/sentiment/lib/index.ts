// The helpers the four demo apps share (plain node:http, no framework).
export { runApp, log, sendJson, portFromEnv, type Handler, type AppOptions } from "./app-server.ts";
export { send, OutboundTimeoutError, type OutboundRequest, type OutboundResponse } from "./http-client.ts";
export { proxyFor, bypassesProxy, type ProxyEnv } from "./proxy-env.ts";
export { readJsonObject, sentenceOf, RequestError } from "./json-body.ts";
export { TRACE_HEADERS, traceHeadersOf } from "./trace-headers.ts";
