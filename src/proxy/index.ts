// Public face of the proxy room: the Proxy (xDS client, listeners, HTTP connection
// manager, router, admin) and its bootstrap. See docs/proxy.md.
export { Proxy, type ProxyOptions, type ServerState } from "./proxy.ts";
export { loadBootstrap, parseBootstrap, modeFromNodeId, BootstrapError, type Bootstrap, type BootstrapOverrides, type ProxyMode } from "./bootstrap.ts";
export { Logger, logLevels, type LogLevel } from "./log.ts";
export { RequestContext, ResponseFlag, formatResponseFlags, type RequestObserver } from "./request-context.ts";
export { configDump } from "./admin.ts";
export { secretTable } from "./secret-table.ts";
