// The CA room's public face: the mesh CA (self-signed root or Istio cacerts), runtime
// service-account tokens, the IstioCertificateService over gRPC (server and client),
// and SPIFFE helpers for reading identities out of certificates.
export { MeshCa, DEFAULT_TRUST_DOMAIN, DEFAULT_WORKLOAD_TTL_SECONDS, DEFAULT_MAX_WORKLOAD_TTL_SECONDS, type MeshCaOptions, type MeshCaSource, type SignRequest, type SignedSvid, type ServingCertificate } from "./mesh-ca.ts";
export { CaError, type CaErrorKind } from "./errors.ts";
export { RuntimeTokenIssuer, RuntimeTokenVerifier, CA_AUDIENCE, RUNTIME_ISSUER, RUNTIME_TOKEN_TTL_SECONDS, serviceAccountSubject, type TokenVerifier, type VerifiedIdentity } from "./token.ts";
export { addCaService, startCaServer, CONTROL_PLANE_DNS_NAMES, CONTROL_PLANE_IPS, type CaServiceOptions, type StartCaServerOptions, type RunningCaServer, type CaLogFn } from "./server.ts";
export { CaClient, type CaClientOptions } from "./client.ts";
export { CA_SERVICE_NAME } from "./service-definition.ts";
export { spiffeId, parseSpiffeId, peerSpiffeId, uriSans, type WorkloadIdentity, type ParsedSpiffeId } from "./spiffe.ts";
export { splitPemCertificates } from "./pem.ts";
export { generateP256, privateKeyPem, subtle, type CryptoKey, type CryptoKeyPair } from "./keys.ts";
export { CACERTS_FILES, SELF_SIGNED_FILES } from "./ca-material.ts";
export { x509 } from "./x509.ts";
export { RotatingServingCertificate, type RotatingServingOptions } from "./serving.ts";
