// Why a CA request was refused, in words a user can act on. The kind maps onto a gRPC
// status at the service edge, so a refused workload sees UNAUTHENTICATED for a bad
// token and PERMISSION_DENIED for a CSR asking for someone else's identity.

export type CaErrorKind =
  | "unauthenticated" // no token, forged, expired, wrong audience
  | "permission-denied" // the CSR asks for an identity the caller did not prove
  | "invalid-argument" // malformed CSR, TTL out of range
  | "config"; // a CA file on disk is missing or wrong

export class CaError extends Error {
  readonly kind: CaErrorKind;
  constructor(kind: CaErrorKind, message: string) {
    super(message);
    this.name = "CaError";
    this.kind = kind;
  }
}
