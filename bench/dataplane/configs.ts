// Config files of the reference processes and of the Skiff mesh, generated per run into a
// temp dir, everything bound to 127.0.0.1. The references are configured the way a
// reverse proxy is usually run in front of a keep-alive upstream: one worker/thread, no
// access log, upstream connections reused.

/** 1 KB response body (ASCII, so bytes = characters). */
export const BODY_1K = "x".repeat(1023) + "\n";

/** nginx as the upstream: answers every request with the 1 KB body from memory. */
export function nginxUpstreamConf(dir: string, port: number): string {
  return `worker_processes 1;
daemon off;
pid ${dir}/nginx-upstream.pid;
error_log ${dir}/nginx-upstream.err warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/nginx-upstream-body;
  proxy_temp_path ${dir}/nginx-upstream-proxy;
  keepalive_requests 1000000;
  keepalive_timeout 300s;
  server {
    listen 127.0.0.1:${port};
    location / { default_type text/plain; return 200 "${BODY_1K.replace(/\n/g, "\\n")}"; }
  }
}
`;
}

/** nginx as a plain keep-alive reverse proxy (the `nginx` path). */
export function nginxProxyConf(dir: string, port: number, upstreamPort: number): string {
  return `worker_processes 1;
daemon off;
pid ${dir}/nginx-proxy.pid;
error_log ${dir}/nginx-proxy.err warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/nginx-proxy-body;
  proxy_temp_path ${dir}/nginx-proxy-temp;
  keepalive_requests 1000000;
  keepalive_timeout 300s;
  upstream up { server 127.0.0.1:${upstreamPort}; keepalive 64; keepalive_requests 1000000; }
  server {
    listen 127.0.0.1:${port};
    location / { proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_buffering on; }
  }
}
`;
}

const HAPROXY_DEFAULTS = `global
  nbthread 1
  maxconn 4096
defaults
  mode http
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  timeout http-keep-alive 60s
  option http-keep-alive
`;

/** HAProxy as a plain keep-alive reverse proxy (the `haproxy` path). */
export function haproxyConf(port: number, upstreamPort: number): string {
  return `${HAPROXY_DEFAULTS}
frontend fe
  bind 127.0.0.1:${port}
  default_backend be
backend be
  http-reuse always
  server up 127.0.0.1:${upstreamPort}
`;
}

/**
 * The `haproxy-tls-pair` path, the reference for the mTLS mesh path: a client-side
 * HAProxy (plaintext in, mutual TLS out, as a client sidecar) and a server-side HAProxy
 * (mutual TLS in, plaintext to the app, as a server sidecar). Both verify the peer
 * against the bench CA.
 */
export function haproxyTlsClientConf(port: number, serverPort: number, dir: string): string {
  return `${HAPROXY_DEFAULTS}
frontend fe
  bind 127.0.0.1:${port}
  default_backend be
backend be
  http-reuse always
  server peer 127.0.0.1:${serverPort} ssl crt ${dir}/client.pem ca-file ${dir}/ca.crt verify required verifyhost server.bench sni str(server.bench) alpn http/1.1
`;
}

export function haproxyTlsServerConf(port: number, upstreamPort: number, dir: string): string {
  return `${HAPROXY_DEFAULTS}
frontend fe
  bind 127.0.0.1:${port} ssl crt ${dir}/server.pem ca-file ${dir}/ca.crt verify required alpn http/1.1
  default_backend be
backend be
  http-reuse always
  server up 127.0.0.1:${upstreamPort}
`;
}

/** Names of the bench mesh's workloads (= app label = service account, namespace default). */
export const MESH = {
  plain: { server: "upstream", client: "client" },
  mtls: { server: "upstream-mtls", client: "client-mtls" },
} as const;

/** The host a client sidecar's HTTP proxy listener is asked for (absolute-form request). */
export function meshHost(service: string): string {
  return `${service}.default.svc.cluster.local:9080`;
}

/**
 * The mesh the Skiff paths run: two Services, each with one replica that is an
 * upstream-facing sidecar. `upstream` is the plaintext mesh (its sidecars have no
 * certificates); `upstream-mtls` carries Istio's `security.istio.io/tlsMode: istio`
 * label, so a client sidecar that has certificates sends it mutual TLS (auto mTLS), as
 * Istio does for any injected workload. Given one port (as bench/proxy's scripts do), only
 * the plaintext `upstream` service.
 */
export function meshYaml(ports: number | { plainInbound: number; mtlsInbound?: number }): string {
  const { plainInbound, mtlsInbound } = typeof ports === "number" ? { plainInbound: ports, mtlsInbound: undefined } : ports;
  const service = (name: string, inbound: number, labels: string): string => `apiVersion: v1
kind: Service
metadata: {name: ${name}, namespace: default}
spec:
  selector: {app: ${name}}
  ports:
  - {name: http, port: 9080, targetPort: http}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: ${name}-0, namespace: default}
spec:
  address: 127.0.0.1
  ports: {http: ${inbound}}
  labels: {${labels}}
  serviceAccount: ${name}
`;
  // STRICT on the mTLS server: its inbound then has no plaintext filter chain, so if the
  // client sidecar ever sent plaintext the path would fail its check instead of quietly
  // measuring something else. Istio's STRICT adds no per-request filter, only removes
  // the plaintext chain.
  const strict = `apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: ${MESH.mtls.server}-strict, namespace: default}
spec:
  selector: {matchLabels: {app: ${MESH.mtls.server}}}
  mtls: {mode: STRICT}
`;
  const docs = [service(MESH.plain.server, plainInbound, `app: ${MESH.plain.server}`)];
  if (mtlsInbound !== undefined) docs.push(service(MESH.mtls.server, mtlsInbound, `app: ${MESH.mtls.server}, security.istio.io/tlsMode: istio`), strict);
  return docs.join("---\n");
}

/**
 * The meshConfig of the Skiff paths. Telemetry on (the target condition): Istio's
 * prometheus metrics (the stats filter; `defaultProviders.metrics`, also Istio's and
 * Skiff's default) and access logs in Istio's default TEXT format to a file. Off: no
 * telemetry filter at all (`metrics: []`, no access log). Tracing is off in both: the
 * bench runs no trace collector, and Istio's default (1 % to zipkin.istio-system:9411)
 * would send spans nowhere. WHY the access log goes to a file and not /dev/stdout: a proxy
 * writing to a pipe makes the bench drain megabytes through its own process (sharing a
 * core with the load generator), while a file is what an operator with `accessLogFile`
 * gets, costs the proxy the same formatting and buffered writes, and lets the bench count
 * lines per path.
 */
export function meshConfigYaml(o: { telemetry: boolean; accessLogFile: string }): string {
  if (!o.telemetry) return "enableTracing: false\ndefaultProviders:\n  metrics: []\n";
  return `accessLogFile: ${JSON.stringify(o.accessLogFile)}
accessLogEncoding: TEXT
enableTracing: false
defaultProviders:
  metrics: [prometheus]
`;
}

/** A process-mode sidecar bootstrap (as `skiff up` writes it, src/agent/bootstrap.ts). */
export function sidecarBootstrap(o: { name: string; app: string; xdsPort: number; httpProxyPort: number; appPorts: Record<number, number> }): Record<string, unknown> {
  return {
    node: {
      id: `sidecar~127.0.0.1~${o.name}.default~default.svc.cluster.local`,
      cluster: `${o.name}.default`,
      metadata: {
        NAMESPACE: "default",
        INSTANCE_IPS: "127.0.0.1",
        LABELS: { app: o.app },
        SERVICE_ACCOUNT: o.app,
        WORKLOAD_NAME: o.app,
        INTERCEPTION_MODE: "NONE",
        HTTP_PROXY_PORT: String(o.httpProxyPort),
        APP_ADDRESS: "127.0.0.1",
        APP_PORTS: Object.fromEntries(Object.entries(o.appPorts)),
      },
    },
    admin: { address: { socket_address: { address: "127.0.0.1", port_value: 0 } } },
    xds_address: `127.0.0.1:${o.xdsPort}`,
  };
}
