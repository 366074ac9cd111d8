export { TraceStore, orderTrace, type TraceQuery, type TraceStoreOptions } from "./store.ts";
export { startTraceStore, traceStoreHandler, type RunningTraceStore, type TraceStoreServerOptions } from "./server.ts";
