// How a remote JWKS is fetched. As Envoy's JwksFetcher: through the cluster that
// `http_uri.cluster` names, with that cluster's endpoints, load balancing, circuit
// breakers and transport socket — so a jwksUri naming a mesh service (Istio's
// `outbound|<port>||<host>`) reaches the IdP over mutual TLS, in netns mode too, where the
// service name means nothing to the host's resolver. Only when no cluster is named does
// the proxy fetch the URI directly (node:http/https), which keeps hand-written configs
// without a cluster working.
//
// Every failure is an Error whose message says what went wrong; the caller counts and
// logs it and fails the request closed.
import http from "node:http";
import https from "node:https";
import type { Readable } from "node:stream";
import type { ClusterManagerApi } from "../upstream/index.ts";

/** Bounded body: a JWKS is small; anything huge is a misconfigured URI. */
export const MAX_JWKS_BYTES = 1 << 20;

export interface JwksFetchTarget {
  uri: string;
  /** `http_uri.cluster`; empty or absent → a direct fetch. */
  cluster?: string;
  timeoutMs: number;
}

/** Fetch the JWKS document's text, through the named cluster when there is one. */
export function fetchJwksText(target: JwksFetchTarget, clusters: ClusterManagerApi | undefined): Promise<string> {
  if (!target.cluster) return fetchDirect(target.uri, target.timeoutMs);
  // A named cluster is authoritative (Envoy): without it there is no way to the keys.
  if (!clusters) return Promise.reject(new Error(`cluster "${target.cluster}" is not available to this filter`));
  return fetchThroughCluster(clusters, target.cluster, target.uri, target.timeoutMs);
}

async function fetchThroughCluster(clusters: ClusterManagerApi, name: string, uri: string, timeoutMs: number): Promise<string> {
  const url = new URL(uri);
  // Looked up per fetch: CDS may add, replace or remove the cluster after the listener came.
  const cluster = clusters.get(name);
  if (!cluster) throw new Error(`cluster "${name}" is not known to this proxy`);
  const host = cluster.selectHost({});
  if (!host) {
    cluster.stats.upstream_cx_none_healthy++;
    throw new Error(`no healthy upstream in cluster "${name}"`);
  }
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), timeoutMs);
  try {
    const result = await cluster.httpRequest(host, {
      method: "GET",
      path: `${url.pathname}${url.search}`,
      // The URI's authority, as Envoy's fetcher sends it: the IdP sees the name it was given.
      authority: url.host,
      headers: { accept: "application/json" },
      signal: abort.signal,
    });
    if (result.kind === "overflow") throw new Error(`cluster "${name}" overflowed (${result.reason})`);
    if (result.kind === "failure") {
      throw new Error(result.failure === "aborted" ? `timed out after ${timeoutMs} ms (cluster "${name}", ${host.key})` : `${result.detail} (cluster "${name}", ${host.key})`);
    }
    if (result.kind === "upgrade") {
      result.socket.destroy();
      throw new Error(`unexpected upgrade from ${host.key}`);
    }
    if (result.status !== 200) {
      result.body.resume();
      throw new Error(`HTTP ${result.status} from ${host.key} (cluster "${name}")`);
    }
    return await readBounded(result.body, abort.signal, timeoutMs);
  } finally {
    clearTimeout(timer);
  }
}

function readBounded(body: Readable, signal: AbortSignal, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks: Buffer[] = [];
    const onAbort = (): void => {
      body.destroy();
      reject(new Error(`timed out after ${timeoutMs} ms reading the body`));
    };
    if (signal.aborted) return onAbort();
    signal.addEventListener("abort", onAbort, { once: true });
    body.on("data", (c: Buffer) => {
      size += c.length;
      if (size > MAX_JWKS_BYTES) {
        body.destroy();
        reject(new Error("JWKS larger than 1 MiB"));
      } else chunks.push(c);
    });
    body.on("end", () => {
      signal.removeEventListener("abort", onAbort);
      resolve(Buffer.concat(chunks).toString("utf8"));
    });
    body.on("error", (err) => {
      signal.removeEventListener("abort", onAbort);
      reject(err);
    });
  });
}

/** No cluster named: the URI straight from this host (system CAs for https). */
function fetchDirect(uri: string, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let url: URL;
    try {
      url = new URL(uri);
    } catch {
      reject(new Error(`"${uri}" is not a URL`));
      return;
    }
    const client = url.protocol === "https:" ? https : http;
    const req = client.get(url, { timeout: timeoutMs, headers: { accept: "application/json" }, agent: false }, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        reject(new Error(`HTTP ${res.statusCode ?? 0}`));
        return;
      }
      let size = 0;
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => {
        size += c.length;
        if (size > MAX_JWKS_BYTES) req.destroy(new Error("JWKS larger than 1 MiB"));
        else chunks.push(c);
      });
      res.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error(`timed out after ${timeoutMs} ms`)));
    req.on("error", reject);
  });
}
