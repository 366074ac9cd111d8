// The router filter: the last HTTP filter. Picks the cluster (weighted), rewrites the
// request, sends it through the upstream half's pools with timeouts and retries,
// mirrors it, and streams the response back with the header mutations of every level.
import type { Readable } from "node:stream";
import type { OutgoingHttpHeaders } from "node:http";
import { hashKey, combineHashes } from "./upstream/index.ts";
import type { ClusterManagerApi, Host, LbContext, UpstreamCluster, UpstreamHttpResult } from "./upstream/index.ts";
import { ResponseFlag } from "./request-context.ts";
import { rewritePath, stripPort, type ClusterAction, type CompiledRoute, type RedirectAction, type RetryPolicy, type RouteTable } from "./route-table.ts";
import type { HeaderMap } from "./header-mutation.ts";
import { BodyTee } from "./body-tee.ts";
import { Cancellation, type CancelSignal } from "./cancel.ts";
import type { HttpStream } from "./hcm.ts";

/** Hop-by-hop headers never forwarded (RFC 9110 §7.6.1) plus h2-forbidden ones. */
const hopByHop = new Set(["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te", "trailer", "http2-settings", "host"]);

/** Envoy buffers up to this much request body for retries and mirrors. */
const retryBufferLimit = 1 << 20;

export interface RouterDeps {
  clusters: ClusterManagerApi;
  random: () => number;
}

export const localReplyBodies = {
  noHealthyUpstream: "no healthy upstream",
  connectFailure: "upstream connect error or disconnect/reset before headers. reset reason: connection failure",
  reset: "upstream connect error or disconnect/reset before headers. reset reason: connection termination",
  overflow: "upstream connect error or disconnect/reset before headers. reset reason: overflow",
  timeout: "upstream request timeout",
  noCluster: "cluster not found",
} as const;

function pickCluster(action: ClusterAction, random: () => number): { name: string; index: number } {
  if (!action.weighted) return { name: action.cluster!, index: -1 };
  // Envoy: a random number modulo the total weight, then walk the list.
  let point = Math.floor(random() * action.totalWeight);
  for (let i = 0; i < action.weighted.length; i++) {
    const w = action.weighted[i];
    if (point < w.weight) return { name: w.name, index: i };
    point -= w.weight;
  }
  const last = action.weighted[action.weighted.length - 1];
  return { name: last.name, index: action.weighted.length - 1 };
}

function headerValue(headers: HeaderMap, name: string): string | undefined {
  const v = headers[name];
  return v === undefined ? undefined : Array.isArray(v) ? v.join(",") : String(v);
}

function computeHash(action: ClusterAction, s: HttpStream): bigint | undefined {
  let hash: bigint | undefined;
  for (const p of action.hashPolicies) {
    let key: string | undefined;
    if (p.kind === "header") key = headerValue(s.headers, p.name);
    else if (p.kind === "sourceIp") key = s.ctx.downstreamRemoteAddress || undefined;
    else if (p.kind === "cookie") {
      const cookie = headerValue(s.headers, "cookie") ?? "";
      for (const part of cookie.split(/;\s*/)) {
        const eq = part.indexOf("=");
        if (eq > 0 && part.slice(0, eq) === p.name) key = part.slice(eq + 1);
      }
    } else {
      const q = s.path.indexOf("?");
      if (q >= 0) key = new URLSearchParams(s.path.slice(q + 1)).get(p.name) ?? undefined;
    }
    if (key === undefined) continue;
    const h = hashKey(key);
    hash = hash === undefined ? h : combineHashes(hash, h);
    if (p.terminal) break;
  }
  return hash;
}

/** Does this result call for a retry under the policy? */
function retriable(policy: RetryPolicy, result: UpstreamHttpResult): boolean {
  const on = policy.retryOn;
  if (result.kind === "failure") {
    if (result.failure === "connect") return on.has("connect-failure") || on.has("5xx") || on.has("gateway-error");
    if (result.failure === "reset") return on.has("reset") || on.has("5xx") || on.has("gateway-error");
    if (result.failure === "refused_stream") return on.has("refused-stream") || on.has("5xx") || on.has("reset");
    return false;
  }
  if (result.kind !== "response") return false;
  const status = result.status;
  if (on.has("5xx") && status >= 500) return true;
  if (on.has("gateway-error") && (status === 502 || status === 503 || status === 504)) return true;
  if (on.has("retriable-4xx") && status === 409) return true;
  if (on.has("retriable-status-codes") && policy.retriableStatusCodes.has(status)) return true;
  const grpc = result.headers["grpc-status"];
  if (grpc !== undefined) {
    const code = Number(grpc);
    if (on.has("cancelled") && code === 1) return true;
    if (on.has("deadline-exceeded") && code === 4) return true;
    if (on.has("resource-exhausted") && code === 8) return true;
    if (on.has("internal") && code === 13) return true;
    if (on.has("unavailable") && code === 14) return true;
  }
  return false;
}

/** Envoy's fully jittered exponential back-off: random in [0, min(base·2^n, max)). */
function backoffMs(policy: RetryPolicy, retryNumber: number, random: () => number): number {
  const ceiling = Math.min(policy.baseIntervalMs * 2 ** retryNumber, policy.maxIntervalMs);
  return Math.floor(random() * ceiling);
}

export function redirectLocation(s: HttpStream, route: CompiledRoute, r: RedirectAction): string {
  const q = s.path.indexOf("?");
  const pathOnly = q < 0 ? s.path : s.path.slice(0, q);
  const query = q < 0 ? "" : s.path.slice(q);
  const scheme = r.scheme ?? s.scheme;
  let host = r.host ?? stripPort(s.authority);
  const origPort = s.authority !== stripPort(s.authority) ? s.authority.slice(stripPort(s.authority).length + 1) : undefined;
  let port: string | undefined = r.port !== undefined ? String(r.port) : r.host !== undefined ? undefined : origPort;
  // Envoy drops the port when switching scheme to https unless a port is given.
  if (r.scheme !== undefined && r.port === undefined) port = undefined;
  if (port !== undefined && !((scheme === "http" && port === "80") || (scheme === "https" && port === "443"))) host = `${host}:${port}`;
  let path = pathOnly;
  if (r.path !== undefined) path = r.path;
  else path = rewritePath(pathOnly, route, r.prefixRewrite, r.regexRewrite);
  // path_redirect may carry its own query; otherwise keep the original unless strip_query.
  const finalQuery = r.path !== undefined && r.path.includes("?") ? "" : r.stripQuery ? "" : query;
  return `${scheme}://${host}${path}${finalQuery}`;
}

/** Results that stand for a per-try timeout (weak: no bookkeeping to clean up). */
const perTryTimeouts = new WeakSet<UpstreamHttpResult>();

export class Router {
  constructor(private readonly deps: RouterDeps) {}

  /** Handle the request for its (already selected) cluster route. */
  async route(s: HttpStream, table: RouteTable, route: CompiledRoute, action: ClusterAction): Promise<void> {
    const ctx = s.ctx;
    const { name: clusterName, index: weightedIndex } = pickCluster(action, this.deps.random);
    ctx.clusterName = clusterName;
    const cluster = this.deps.clusters.get(clusterName);
    if (!cluster) {
      ctx.setFlag(ResponseFlag.NC);
      s.sendLocalReply(503, localReplyBodies.noCluster);
      return;
    }

    // Request headers: weighted cluster, route, virtual host, route configuration (Envoy's order).
    const headers = s.headers;
    const weighted = weightedIndex >= 0 ? action.weighted![weightedIndex] : undefined;
    weighted?.requestHeaders.apply(headers);
    route.requestHeaders.apply(headers);
    s.vhost!.requestHeaders.apply(headers);
    table.requestHeaders.apply(headers);

    const q = s.path.indexOf("?");
    const pathOnly = q < 0 ? s.path : s.path.slice(0, q);
    const query = q < 0 ? "" : s.path.slice(q);
    let upstreamPath = s.path;
    if (action.prefixRewrite !== undefined || action.regexRewrite) {
      upstreamPath = rewritePath(pathOnly, route, action.prefixRewrite, action.regexRewrite) + query;
      headers["x-envoy-original-path"] = s.path;
    }
    let authority = s.authority;
    if (action.hostRewrite !== undefined) {
      headers["x-forwarded-host"] = s.authority;
      authority = action.hostRewrite;
    }

    const outHeaders: OutgoingHttpHeaders = {};
    for (const key in headers) {
      if (hopByHop.has(key) || key.charCodeAt(0) === 58 /* ":" */) continue;
      outHeaders[key] = headers[key];
    }
    // HTTP/1 `te: trailers` must survive for gRPC.
    if (headers.te === "trailers") outHeaders.te = "trailers";
    const upgrade = s.upgradeSocket !== undefined;
    if (upgrade) {
      // WebSocket: the upgrade headers are hop-by-hop but the handshake needs them upstream.
      outHeaders.connection = "upgrade";
      outHeaders.upgrade = String(headers.upgrade ?? "websocket");
    }

    const lb: LbContext = { downstreamAddress: ctx.downstreamRemoteAddress };
    const hash = action.hashPolicies.length ? computeHash(action, s) : undefined;
    if (hash !== undefined) lb.hash = hash;

    const hasBody = s.hasBody;
    const retry = action.retry;
    const tee = hasBody && (retry || action.mirrors.length) ? new BodyTee(s.body, retryBufferLimit) : undefined;

    for (const m of action.mirrors) {
      if (m.fraction < 1 && this.deps.random() >= m.fraction) continue;
      void this.mirror(m.cluster, s.method, upstreamPath, authority, outHeaders, hasBody ? tee : undefined, hasBody);
    }

    // Overall route timeout (0 disables), across all attempts. Without one, the downstream's
    // own cancellation is all an attempt needs: no extra signal, timer or listener.
    let overall: CancelSignal = s.signal;
    let overallTimedOut = false;
    let overallTimer: NodeJS.Timeout | undefined;
    let onDownstreamAbort: (() => void) | undefined;
    if (action.timeoutMs > 0) {
      const cancel = new Cancellation();
      overall = cancel;
      overallTimer = setTimeout(() => {
        overallTimedOut = true;
        cancel.abort();
      }, action.timeoutMs);
      onDownstreamAbort = () => cancel.abort();
      s.signal.addEventListener("abort", onDownstreamAbort, { once: true });
    }

    let tried: Set<Host> | undefined;
    let lastWasPerTryTimeout = false;
    const maxAttempts = 1 + (retry?.numRetries ?? 0);
    let result: UpstreamHttpResult | undefined;
    let releaseRetry: (() => void) | null = null;
    try {
      for (let attempt = 0; attempt < maxAttempts; attempt++) {
        if (attempt > 0) {
          if (retry!.previousHosts) lb.previousHosts = tried;
          await sleep(backoffMs(retry!, attempt - 1, this.deps.random), overall);
          if (overall.aborted) break;
        }
        let body: Readable | undefined;
        if (hasBody) {
          if (attempt === 0) body = tee ? tee.first() : s.body;
          else {
            body = await tee!.replay();
            if (!body) break; // body too large to replay: not retriable
          }
        }
        const host = cluster.selectHost(lb);
        if (!host) {
          result = undefined;
          ctx.setFlag(ResponseFlag.UH);
          cluster.stats.upstream_cx_none_healthy++;
          body?.resume();
          break;
        }
        if (retry) (tried ??= new Set()).add(host);
        ctx.attempts = attempt + 1;
        ctx.upstreamHost = host.key;
        ctx.upstreamStartNs = process.hrtime.bigint();
        result = await this.attempt(cluster, host, s.method, upstreamPath, authority, outHeaders, body, retry?.perTryTimeoutMs, overall, upgrade);
        lastWasPerTryTimeout = perTryTimeouts.has(result);
        if (retry === undefined || !retriable(retry, result)) break;
        if (attempt + 1 >= maxAttempts || (hasBody && !tee!.replayable)) {
          if (attempt > 0) ctx.setFlag(ResponseFlag.URX);
          break;
        }
        // Retry budget (the cluster's max_retries breaker), taken before this attempt's
        // answer is discarded: without a slot, that answer is what the client gets (UO).
        releaseRetry?.();
        releaseRetry = cluster.acquireRetry();
        if (!releaseRetry) {
          ctx.setFlag(ResponseFlag.UO);
          break;
        }
        // Discard this attempt's response before retrying.
        if (result.kind === "response") result.body.destroy();
        body?.resume();
      }
    } finally {
      releaseRetry?.();
      if (overallTimer) clearTimeout(overallTimer);
      if (onDownstreamAbort) s.signal.removeEventListener("abort", onDownstreamAbort);
    }

    if (s.signal.aborted) {
      ctx.setFlag(ResponseFlag.DC);
      if (result?.kind === "response") result.body.destroy();
      s.finishWithoutResponse();
      return;
    }
    if (overallTimedOut || lastWasPerTryTimeout || (result?.kind === "failure" && result.failure === "aborted")) {
      if (result?.kind === "response") result.body.destroy();
      ctx.setFlag(ResponseFlag.UT);
      cluster.stats.upstream_rq_timeout++;
      s.sendLocalReply(504, localReplyBodies.timeout);
      return;
    }
    if (!result) {
      if (ctx.hasFlag(ResponseFlag.UO)) s.sendLocalReply(503, localReplyBodies.overflow);
      else s.sendLocalReply(503, localReplyBodies.noHealthyUpstream);
      return;
    }
    switch (result.kind) {
      case "overflow":
        ctx.setFlag(ResponseFlag.UO);
        s.sendLocalReply(503, localReplyBodies.overflow);
        return;
      case "failure":
        if (result.responseFlag) ctx.setFlag(ResponseFlag[result.responseFlag]);
        s.sendLocalReply(503, result.failure === "connect" ? localReplyBodies.connectFailure : localReplyBodies.reset);
        return;
      case "upgrade":
        s.sendUpgrade(result);
        return;
      case "response": {
        const rh = result.headers as HeaderMap;
        for (const k of Object.keys(rh)) if (hopByHop.has(k)) delete rh[k];
        rh["x-envoy-upstream-service-time"] = String(Math.round(Number(process.hrtime.bigint() - ctx.upstreamStartNs) / 1e6));
        weighted?.responseHeaders.apply(rh);
        route.responseHeaders.apply(rh);
        s.vhost!.responseHeaders.apply(rh);
        table.responseHeaders.apply(rh);
        ctx.upstreamHost = result.host.key;
        await s.sendUpstreamResponse(result.status, rh, result.body, result.trailers);
        return;
      }
    }
  }

  private async attempt(
    cluster: UpstreamCluster,
    host: Host,
    method: string,
    path: string,
    authority: string,
    headers: OutgoingHttpHeaders,
    body: Readable | undefined,
    perTryTimeoutMs: number | undefined,
    overall: CancelSignal,
    upgrade: boolean,
  ): Promise<UpstreamHttpResult> {
    // The pools read `headers` without changing them, so every attempt can share them.
    if (perTryTimeoutMs === undefined) return cluster.httpRequest(host, { method, path, authority, headers, body, signal: overall, upgrade });
    const perTry = new Cancellation();
    let perTryTimedOut = false;
    const onOverall = (): void => perTry.abort();
    overall.addEventListener("abort", onOverall, { once: true });
    const timer = setTimeout(() => {
      perTryTimedOut = true;
      perTry.abort();
    }, perTryTimeoutMs);
    try {
      const result = await cluster.httpRequest(host, { method, path, authority, headers, body, signal: perTry, upgrade });
      if (perTryTimedOut && result.kind === "failure" && result.failure === "aborted") {
        // A per-try timeout is retriable like a reset, and it is an outlier signal.
        cluster.stats.upstream_rq_per_try_timeout++;
        cluster.reportOutcome(host, { localFailure: "timeout" });
        if (!overall.aborted) {
          // Retried like a reset; if it is the last attempt the answer is 504 UT (Envoy).
          const timedOut: UpstreamHttpResult = { kind: "failure", failure: "reset", host, detail: "per try timeout" };
          perTryTimeouts.add(timedOut);
          return timedOut;
        }
      }
      return result;
    } finally {
      clearTimeout(timer);
      overall.removeEventListener("abort", onOverall);
    }
  }

  /** Fire-and-forget copy to the shadow cluster: `-shadow` appended to the host. */
  private async mirror(
    clusterName: string,
    method: string,
    path: string,
    authority: string,
    headers: OutgoingHttpHeaders,
    tee: BodyTee | undefined,
    hasBody: boolean,
  ): Promise<void> {
    const cluster = this.deps.clusters.get(clusterName);
    if (!cluster) return;
    let body: Readable | undefined;
    if (hasBody) {
      body = tee ? await tee.replay() : undefined;
      if (!body) return;
    }
    const host = cluster.selectHost({});
    if (!host) return;
    const bare = stripPort(authority);
    const shadow = `${bare}-shadow${authority.slice(bare.length)}`;
    const signal = AbortSignal.timeout(15_000);
    const result = await cluster.httpRequest(host, { method, path, authority: shadow, headers: { ...headers }, body, signal });
    if (result.kind === "response") result.body.resume();
    if (result.kind === "upgrade") result.socket.destroy();
  }
}

function sleep(ms: number, signal: CancelSignal): Promise<void> {
  if (ms <= 0 || signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}
