// The control plane's own TLS certificate, kept fresh: issued by the mesh CA, reissued
// at half life, and handed to gRPC through its certificate-provider interface so new
// connections get the new certificate while open streams (proxies' ADS streams) stay up.
import * as grpc from "@grpc/grpc-js";
import type { MeshCa, ServingCertificate } from "./mesh-ca.ts";

export type IdentityListener = (update: { certificate: Buffer; privateKey: Buffer } | null) => void;
export type CaListener = (update: { caCertificate: Buffer } | null) => void;

export interface RotatingServingOptions {
  dnsNames: string[];
  ips?: string[];
  /** Lifetime of each serving certificate; default 24 h (rotated at half life). */
  ttlSeconds?: number;
  onError?: (err: Error) => void;
}

const MAX_TIMER_MS = 2 ** 31 - 1;
const RETRY_MS = 10_000;

export class RotatingServingCertificate {
  readonly #ca: MeshCa;
  readonly #opts: RotatingServingOptions;
  #current: ServingCertificate;
  #timer: ReturnType<typeof setTimeout> | undefined;
  readonly #identityListeners = new Set<IdentityListener>();
  readonly #caListeners = new Set<CaListener>();
  readonly #listeners = new Set<(cert: ServingCertificate) => void>();

  private constructor(ca: MeshCa, opts: RotatingServingOptions, first: ServingCertificate) {
    this.#ca = ca;
    this.#opts = opts;
    this.#current = first;
    this.#schedule();
  }

  static async create(ca: MeshCa, opts: RotatingServingOptions): Promise<RotatingServingCertificate> {
    return new RotatingServingCertificate(ca, opts, await RotatingServingCertificate.#issue(ca, opts));
  }

  static #issue(ca: MeshCa, opts: RotatingServingOptions): Promise<ServingCertificate> {
    return ca.issueServingCertificate({ dnsNames: opts.dnsNames, ips: opts.ips, ttlSeconds: opts.ttlSeconds ?? 24 * 3600 });
  }

  current(): ServingCertificate {
    return this.#current;
  }

  /** For TLS servers outside gRPC (server.setSecureContext on each new certificate). */
  onUpdate(listener: (cert: ServingCertificate) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Issues a new certificate now and hands it to every listener. */
  async renew(): Promise<ServingCertificate> {
    const next = await RotatingServingCertificate.#issue(this.#ca, this.#opts);
    this.#current = next;
    this.#schedule();
    for (const l of this.#identityListeners) l(identityUpdate(next));
    for (const l of this.#caListeners) l({ caCertificate: Buffer.from(next.rootsPem) });
    for (const l of this.#listeners) l(next);
    return next;
  }

  /**
   * gRPC server credentials that follow this certificate. Client certificates are asked
   * for but not required: workloads without one yet authenticate with a token.
   */
  credentials(): grpc.ServerCredentials {
    return grpc.experimental.createCertificateProviderServerCredentials(this, this, false);
  }

  stop(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  // grpc.experimental.CertificateProvider. A new listener hears the current value on the
  // next microtask, not synchronously: grpc-js registers its own watcher only after
  // adding the listener, so a synchronous call would be lost and the server would
  // drop every connection.
  addIdentityCertificateListener(listener: IdentityListener): void {
    this.#identityListeners.add(listener);
    queueMicrotask(() => this.#identityListeners.has(listener) && listener(identityUpdate(this.#current)));
  }
  removeIdentityCertificateListener(listener: IdentityListener): void {
    this.#identityListeners.delete(listener);
  }
  addCaCertificateListener(listener: CaListener): void {
    this.#caListeners.add(listener);
    queueMicrotask(() => this.#caListeners.has(listener) && listener({ caCertificate: Buffer.from(this.#current.rootsPem) }));
  }
  removeCaCertificateListener(listener: CaListener): void {
    this.#caListeners.delete(listener);
  }

  #schedule(delayMs?: number): void {
    this.stop();
    const cert = this.#current;
    const halfLife = cert.notBefore.getTime() + (cert.notAfter.getTime() - cert.notBefore.getTime()) / 2;
    const delay = Math.min(Math.max(delayMs ?? halfLife - Date.now(), 1000), MAX_TIMER_MS);
    this.#timer = setTimeout(() => {
      if (Date.now() < halfLife && delayMs === undefined) return this.#schedule();
      this.renew().catch((err: Error) => {
        this.#opts.onError?.(err);
        this.#schedule(RETRY_MS);
      });
    }, delay);
    // The rotation timer alone must not keep the process alive.
    this.#timer.unref();
  }
}

function identityUpdate(cert: ServingCertificate): { certificate: Buffer; privateKey: Buffer } {
  return { certificate: Buffer.from(cert.certChainPem), privateKey: Buffer.from(cert.keyPem) };
}
