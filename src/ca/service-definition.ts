// The gRPC definition of istio.v1.auth.IstioCertificateService, from ca.proto.
import { packagePath } from "../package-root/index.ts";
import * as grpc from "@grpc/grpc-js";
import { loadSync } from "@grpc/proto-loader";

export const CA_SERVICE_NAME = "istio.v1.auth.IstioCertificateService";

export interface CertificateRequest {
  csr: string;
  /** Seconds; 0 = the CA's default. */
  validity_duration: number;
}

export interface CertificateResponse {
  cert_chain: string[];
}

let cached: grpc.ServiceClientConstructor | undefined;

/** The service's client constructor; its `.service` is what a server registers. */
export function caServiceClient(): grpc.ServiceClientConstructor {
  if (cached) return cached;
  const definition = loadSync(packagePath("src", "ca", "ca.proto"), {
    keepCase: true,
    longs: Number, // int64 seconds fit a double for any sane lifetime
    defaults: true,
  });
  const pkg = grpc.loadPackageDefinition(definition) as unknown as { istio: { v1: { auth: { IstioCertificateService: grpc.ServiceClientConstructor } } } };
  cached = pkg.istio.v1.auth.IstioCertificateService;
  return cached;
}
