// The workload's certificate, kept fresh: generate a key here, send a CSR with the
// workload's token, check what comes back, and rotate at half life (Istio's default)
// with a new key each time. Listeners hear every new SVID so the proxy can swap its TLS
// contexts for new connections while open ones keep the certificate they started with.
import { X509Certificate } from "node:crypto";
import { generateP256, privateKeyPem, spiffeId as formatSpiffeId, peerSpiffeId, splitPemCertificates, DEFAULT_TRUST_DOMAIN, x509, type WorkloadIdentity } from "../ca/index.ts";
import type { Svid } from "./cert-svid.ts";

/** What CaClient does; a seam so tests (and an in-process control plane) can sign directly. */
export interface CertificateSigner {
  createCertificate(csrPem: string, ttlSeconds: number, token: string): Promise<string[]>;
}

/** Time and timers, injectable so rotation can be tested without waiting 12 hours. */
export interface CertClock {
  now(): number;
  setTimer(fn: () => void, ms: number): unknown;
  clearTimer(handle: unknown): void;
}

export const systemClock: CertClock = {
  now: () => Date.now(),
  setTimer: (fn, ms) => {
    const t = setTimeout(fn, ms);
    // A pending rotation must not keep a finished process alive.
    t.unref();
    return t;
  },
  clearTimer: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

export type CertLogFn = (level: "info" | "warn", message: string) => void;

export interface CertManagerOptions {
  signer: CertificateSigner;
  /** The mesh trust bundle the agent was given; the CA's answer must chain to it. */
  rootsPem: string;
  identity: WorkloadIdentity;
  trustDomain?: string;
  /** The workload's current service-account token (read fresh for every request). */
  token: () => string | Promise<string>;
  /** Requested certificate lifetime; default 24 h. */
  ttlSeconds?: number;
  /** Fraction of the lifetime after which to rotate; default 0.5 (half life). */
  rotateAt?: number;
  clock?: CertClock;
  /** First retry delay after a failed rotation, doubled up to maxRetryMs. */
  retryMs?: number;
  maxRetryMs?: number;
  log?: CertLogFn;
}

// Node timers overflow past 2^31-1 ms (~24.8 days): longer waits are taken in steps.
const MAX_TIMER_MS = 2 ** 31 - 1;
// Never rotate in a tight loop, even if the CA hands out a certificate that is already old.
const MIN_ROTATION_DELAY_MS = 1000;

const defaultLog: CertLogFn = (level, message) => process.stderr.write(`${new Date().toISOString()} ${level} cert ${message}\n`);

export class CertManager {
  readonly spiffeId: string;
  readonly #opts: CertManagerOptions;
  readonly #clock: CertClock;
  readonly #log: CertLogFn;
  readonly #listeners = new Set<(svid: Svid) => void>();
  #current: Svid | undefined;
  #timer: unknown;
  #stopped = false;
  #retryMs: number;
  #inFlight: Promise<Svid> | undefined;

  constructor(opts: CertManagerOptions) {
    this.#opts = opts;
    this.#clock = opts.clock ?? systemClock;
    this.#log = opts.log ?? defaultLog;
    this.spiffeId = formatSpiffeId(opts.trustDomain ?? DEFAULT_TRUST_DOMAIN, opts.identity);
    this.#retryMs = opts.retryMs ?? 1000;
    const fraction = opts.rotateAt ?? 0.5;
    if (!(fraction > 0 && fraction < 1)) throw new Error(`cert manager: rotateAt ${fraction} must lie strictly between 0 and 1 (0.5 rotates at half life)`);
    if (splitPemCertificates(opts.rootsPem).length === 0) throw new Error("cert manager: rootsPem holds no certificate; give the mesh root (the CA's trust bundle)");
  }

  /** Gets the first certificate (rejects if the CA refuses) and schedules its rotation. */
  async start(): Promise<Svid> {
    this.#stopped = false;
    return this.rotate();
  }

  current(): Svid | undefined {
    return this.#current;
  }

  /** Subscribes to new certificates; returns the unsubscribe function. */
  onUpdate(listener: (svid: Svid) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Fetches a new certificate now (one request at a time) and reschedules. */
  rotate(): Promise<Svid> {
    this.#inFlight ??= this.#fetch().finally(() => {
      this.#inFlight = undefined;
    });
    return this.#inFlight;
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer !== undefined) this.#clock.clearTimer(this.#timer);
    this.#timer = undefined;
  }

  async #fetch(): Promise<Svid> {
    const keys = await generateP256();
    const csr = await x509.Pkcs10CertificateRequestGenerator.create({
      keys,
      signingAlgorithm: { name: "ECDSA", hash: "SHA-256" },
      extensions: [new x509.SubjectAlternativeNameExtension([{ type: "url", value: this.spiffeId }])],
    });
    const token = await this.#opts.token();
    const chain = await this.#opts.signer.createCertificate(csr.toString("pem"), this.#opts.ttlSeconds ?? 24 * 3600, token);
    const svid = this.#accept(chain, await privateKeyPem(keys.privateKey), Buffer.from(csr.publicKey.rawData));
    this.#current = svid;
    this.#retryMs = this.#opts.retryMs ?? 1000;
    this.#log("info", `new certificate for ${svid.spiffeId}: serial ${svid.serial}, valid ${svid.notBefore.toISOString()} to ${svid.notAfter.toISOString()}`);
    this.#schedule(this.#rotationTime(svid));
    for (const listener of this.#listeners) listener(svid);
    return svid;
  }

  /**
   * Trusts nothing the CA says without checking: the certificate must carry our key, our
   * SPIFFE ID, and chain to the root we were configured with.
   */
  #accept(chainPem: string[], keyPem: string, ourSpki: Buffer): Svid {
    const blocks = chainPem.flatMap(splitPemCertificates);
    if (blocks.length === 0) throw new Error("CA answered with no certificate");
    const roots = splitPemCertificates(this.#opts.rootsPem).map((p) => new X509Certificate(p));
    const certs = blocks.map((p) => new X509Certificate(p));
    // The answer ends with the CA's root; present only leaf + intermediates.
    const presented = certs.filter((c) => !roots.some((r) => r.raw.equals(c.raw)));
    const leaf = presented[0];
    if (!leaf) throw new Error("CA answered with only root certificates");
    if (!leaf.publicKey.export({ type: "spki", format: "der" }).equals(ourSpki)) throw new Error("CA answered with a certificate for another key; refusing it");
    const id = peerSpiffeId(leaf);
    if (id !== this.spiffeId) throw new Error(`CA answered with identity ${id ?? "(none)"} instead of ${this.spiffeId}; refusing it`);
    let current = leaf;
    for (let depth = 0; ; depth++) {
      if (depth > 8) throw new Error("CA answered with a chain longer than 8 certificates");
      if (roots.some((r) => current.checkIssued(r) && current.verify(r.publicKey))) break;
      const next = presented.find((c) => c !== current && current.checkIssued(c) && current.verify(c.publicKey));
      if (!next) throw new Error(`CA answered with a chain that does not lead to the configured mesh root (stuck at issuer "${current.issuer}"); the root may have changed — root rotation is not supported yet`);
      current = next;
    }
    return {
      keyPem,
      certChainPem: presented.map((c) => (c.toString().endsWith("\n") ? c.toString() : `${c.toString()}\n`)).join(""),
      rootsPem: this.#opts.rootsPem,
      spiffeId: id,
      serial: leaf.serialNumber.toLowerCase(),
      notBefore: new Date(leaf.validFrom),
      notAfter: new Date(leaf.validTo),
    };
  }

  #rotationTime(svid: Svid): number {
    const start = svid.notBefore.getTime();
    return start + (svid.notAfter.getTime() - start) * (this.#opts.rotateAt ?? 0.5);
  }

  #schedule(at: number): void {
    if (this.#stopped) return;
    if (this.#timer !== undefined) this.#clock.clearTimer(this.#timer);
    const delay = Math.min(Math.max(at - this.#clock.now(), MIN_ROTATION_DELAY_MS), MAX_TIMER_MS);
    this.#timer = this.#clock.setTimer(() => {
      this.#timer = undefined;
      if (this.#stopped) return;
      if (this.#clock.now() < at) return this.#schedule(at); // a long wait taken in steps
      this.rotate().catch((err: Error) => {
        const wait = this.#retryMs;
        this.#retryMs = Math.min(this.#retryMs * 2, this.#opts.maxRetryMs ?? 60_000);
        this.#log("warn", `certificate rotation for ${this.spiffeId} failed (${err.message}); keeping the current certificate, retrying in ${wait} ms`);
        this.#schedule(this.#clock.now() + wait);
      });
    }, delay);
  }
}
