// The CA service over gRPC: a workload agent sends a CSR with its service-account token
// as bearer metadata and gets its certificate chain back. Served over TLS with a
// certificate from the mesh CA itself, so agents verify the control plane against the
// same root they will use for mesh mTLS.
import * as grpc from "@grpc/grpc-js";
import { CaError, type CaErrorKind } from "./errors.ts";
import type { MeshCa, ServingCertificate } from "./mesh-ca.ts";
import { RotatingServingCertificate } from "./serving.ts";
import { caServiceClient, type CertificateRequest, type CertificateResponse } from "./service-definition.ts";
import type { TokenVerifier } from "./token.ts";

export type CaLogFn = (level: "info" | "warn", message: string) => void;

export interface CaServiceOptions {
  ca: MeshCa;
  tokenVerifier: TokenVerifier;
  log?: CaLogFn;
}

const STATUS: Record<CaErrorKind, grpc.status> = {
  unauthenticated: grpc.status.UNAUTHENTICATED,
  "permission-denied": grpc.status.PERMISSION_DENIED,
  "invalid-argument": grpc.status.INVALID_ARGUMENT,
  config: grpc.status.FAILED_PRECONDITION,
};

const defaultLog: CaLogFn = (level, message) => process.stderr.write(`${new Date().toISOString()} ${level} ca ${message}\n`);

/** The bearer token of a call, or "" when there is none. */
function bearerToken(metadata: grpc.Metadata): string {
  const value = metadata.get("authorization")[0];
  const text = typeof value === "string" ? value : value?.toString("utf8") ?? "";
  const m = /^Bearer\s+(\S+)$/i.exec(text.trim());
  return m ? m[1] : "";
}

/**
 * Registers CreateCertificate on a gRPC server. A function rather than a server of its
 * own, so the control plane can serve it on the same 15012 server as xDS.
 */
export function addCaService(server: grpc.Server, opts: CaServiceOptions): void {
  const log = opts.log ?? defaultLog;
  server.addService(caServiceClient().service, {
    CreateCertificate: (call: grpc.ServerUnaryCall<CertificateRequest, CertificateResponse>, callback: grpc.sendUnaryData<CertificateResponse>) => {
      const peer = call.getPeer();
      void (async () => {
        try {
          const identity = await opts.tokenVerifier.verify(bearerToken(call.metadata));
          const ttl = call.request.validity_duration > 0 ? call.request.validity_duration : undefined;
          const signed = await opts.ca.sign(call.request.csr, { identity, ttlSeconds: ttl });
          log("info", `signed ${signed.spiffeId} serial ${signed.serial} until ${signed.notAfter.toISOString()} for ${peer}`);
          callback(null, { cert_chain: signed.certChainPem });
        } catch (err) {
          const known = err instanceof CaError;
          const details = known ? err.message : `internal error: ${(err as Error).message}`;
          log("warn", `refused CreateCertificate from ${peer}: ${details}`);
          callback({ code: known ? STATUS[err.kind] : grpc.status.INTERNAL, details });
        }
      })();
    },
  });
}

/** The names a control plane answers to: Istio's istiod service names and loopback. */
export const CONTROL_PLANE_DNS_NAMES = ["istiod.istio-system.svc", "istiod.istio-system.svc.cluster.local", "istiod", "localhost"];
export const CONTROL_PLANE_IPS = ["127.0.0.1", "::1"];

export interface StartCaServerOptions extends CaServiceOptions {
  /** 0 for an ephemeral port. */
  port: number;
  host?: string;
  /**
   * A fixed serving certificate. Without one the server gets a certificate from `ca`
   * for CONTROL_PLANE_DNS_NAMES and CONTROL_PLANE_IPS, reissued at half life.
   */
  serving?: ServingCertificate;
}

export interface RunningCaServer {
  port: number;
  server: grpc.Server;
  /** The certificate new connections are served with. */
  serving(): ServingCertificate;
  /** Present when the server rotates its own certificate. */
  rotation?: RotatingServingCertificate;
  stop(): Promise<void>;
}

/** A standalone TLS gRPC server with only the CA service. */
export async function startCaServer(opts: StartCaServerOptions): Promise<RunningCaServer> {
  const log = opts.log ?? defaultLog;
  const fixed = opts.serving;
  const rotation = fixed
    ? undefined
    : await RotatingServingCertificate.create(opts.ca, { dnsNames: CONTROL_PLANE_DNS_NAMES, ips: CONTROL_PLANE_IPS, onError: (err) => log("warn", `serving certificate renewal failed: ${err.message}; retrying`) });
  // Client certificates are not required: a workload asks for its first certificate
  // before it has one, and proves itself with the token instead.
  const credentials = fixed
    ? grpc.ServerCredentials.createSsl(Buffer.from(fixed.rootsPem), [{ cert_chain: Buffer.from(fixed.certChainPem), private_key: Buffer.from(fixed.keyPem) }], false)
    : rotation!.credentials();
  const server = new grpc.Server();
  addCaService(server, opts);
  const host = opts.host ?? "127.0.0.1";
  const address = host.includes(":") ? `[${host}]:${opts.port}` : `${host}:${opts.port}`;
  let port: number;
  try {
    port = await new Promise<number>((resolve, reject) => server.bindAsync(address, credentials, (err, p) => (err ? reject(err) : resolve(p))));
  } catch (err) {
    rotation?.stop();
    throw err;
  }
  return {
    port,
    server,
    serving: () => fixed ?? rotation!.current(),
    rotation,
    stop: () =>
      new Promise<void>((resolve) => {
        rotation?.stop();
        server.tryShutdown(() => resolve());
      }),
  };
}
