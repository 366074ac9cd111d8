// The workload agent beside a proxy (what Istio's pilot-agent does for Envoy): it gets
// the workload's SVID from the mesh CA with the service-account token the runtime gave
// it, rotates it, and serves it to the proxy over SDS on a Unix socket. The proxy itself
// only knows its bootstrap's `sds-grpc` cluster. Settings come from the environment, as
// pilot-agent's do (CA_ADDR and friends), so a runtime needs no new command-line flags.
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CaClient } from "../ca/index.ts";
import { CertManager, type CertLogFn } from "./cert-manager.ts";
import { startSdsServer, type RunningSdsServer } from "./sds-server.ts";

/** Environment variables a runtime sets for a sidecar that should do mesh mTLS. */
export const AGENT_ENV = {
  /** `host:port` of the control plane's CA (its TLS port, Istio's 15012). */
  caAddress: "SKIFF_CA_ADDRESS",
  /** PEM file with the mesh root the control plane's certificate chains to. */
  caRootFile: "SKIFF_CA_ROOT_FILE",
  /** File holding the workload's service-account token (re-read for every request). */
  tokenFile: "SKIFF_TOKEN_FILE",
  /** Optional: where to serve SDS (default: a per-process socket in the temp directory). */
  sdsSocket: "SKIFF_SDS_SOCKET",
  /**
   * Optional: the workload certificate's lifetime (Istio's SECRET_TTL), e.g. `24h`, `90s`,
   * `1h30m` or plain seconds; default 24 h, rotated at half life. Short values let a test
   * watch rotations happen; the CA still refuses anything above its maximum.
   */
  certTtl: "SKIFF_CERT_TTL",
  /**
   * Optional: `host:port` of the control plane's xDS over TLS (Istio's discovery address,
   * 15012, which serves the CA too). When set, the proxy fetches its configuration there,
   * verifying the server against the mesh root, instead of at the bootstrap's plaintext
   * address (as pilot-agent dials istiod over TLS for Envoy).
   */
  xdsAddress: "SKIFF_XDS_ADDRESS",
} as const;

/** Below this, a half-life rotation would come faster than the agent's 1 s rotation floor. */
const MIN_CERT_TTL_SECONDS = 2;

/** `24h`, `1h30m`, `90s`, `5m` or whole seconds → seconds; throws saying what is accepted. */
export function parseCertTtl(value: string): number {
  const text = value.trim();
  const units: Record<string, number> = { h: 3600, m: 60, s: 1 };
  let seconds: number;
  if (/^\d+$/.test(text)) seconds = Number(text);
  else if (/^(\d+[hms])+$/.test(text)) seconds = [...text.matchAll(/(\d+)([hms])/g)].reduce((sum, m) => sum + Number(m[1]) * units[m[2]!]!, 0);
  else throw new Error(`${AGENT_ENV.certTtl}="${value}" is not a duration; write e.g. 24h, 1h30m, 90s or a number of seconds`);
  if (seconds < MIN_CERT_TTL_SECONDS) throw new Error(`${AGENT_ENV.certTtl}="${value}" is shorter than ${MIN_CERT_TTL_SECONDS}s; certificates rotate at half life, at most once a second`);
  return seconds;
}

export interface WorkloadAgentOptions {
  caAddress: string;
  rootsPem: string;
  tokenFile: string;
  namespace: string;
  serviceAccount: string;
  trustDomain?: string;
  socketPath: string;
  /** Certificate lifetime to ask the CA for; the CertManager's 24 h default when absent. */
  certTtlSeconds?: number;
  /** Where the proxy fetches xDS over TLS (verified against `rootsPem`); absent: the bootstrap's address. */
  xdsAddress?: string;
  log: CertLogFn;
}

export interface RunningWorkloadAgent {
  /** gRPC target of the SDS server, for the bootstrap's sds-grpc cluster. */
  sdsAddress: string;
  /** xDS over TLS for the proxy (AGENT_ENV.xdsAddress), with the root to verify the control plane against. */
  xds?: { address: string; rootsPem: string };
  certs: CertManager;
  stop(): Promise<void>;
}

/** Agent settings from the environment, or undefined when no CA is configured. */
export function agentSettingsFromEnv(env: NodeJS.ProcessEnv, identity: { namespace?: string; serviceAccount?: string }): Omit<WorkloadAgentOptions, "log"> | undefined {
  const caAddress = env[AGENT_ENV.caAddress];
  if (!caAddress) return undefined;
  const rootFile = env[AGENT_ENV.caRootFile];
  const tokenFile = env[AGENT_ENV.tokenFile];
  if (!rootFile || !tokenFile) throw new Error(`${AGENT_ENV.caAddress} is set, so ${AGENT_ENV.caRootFile} (the mesh root PEM) and ${AGENT_ENV.tokenFile} (the service-account token) are needed too`);
  if (!identity.namespace || !identity.serviceAccount) throw new Error("mesh certificates need the proxy's identity: set node.metadata.NAMESPACE and SERVICE_ACCOUNT in the bootstrap");
  let rootsPem: string;
  try {
    rootsPem = readFileSync(rootFile, "utf8");
  } catch (err) {
    throw new Error(`cannot read ${AGENT_ENV.caRootFile} ${rootFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const ttl = env[AGENT_ENV.certTtl];
  const xdsAddress = env[AGENT_ENV.xdsAddress];
  return {
    caAddress,
    ...(xdsAddress ? { xdsAddress } : {}),
    rootsPem,
    tokenFile,
    ...(ttl ? { certTtlSeconds: parseCertTtl(ttl) } : {}),
    namespace: identity.namespace,
    serviceAccount: identity.serviceAccount,
    socketPath: env[AGENT_ENV.sdsSocket] || join(tmpdir(), `skiff-sds-${process.pid}.sock`),
  };
}

/**
 * Start the SDS server at once (the proxy's TLS listeners warm until a certificate
 * arrives), then get the first certificate, retrying while the CA is unreachable.
 */
export async function startWorkloadAgent(opts: WorkloadAgentOptions): Promise<RunningWorkloadAgent> {
  const certs = new CertManager({
    signer: new CaClient({ address: opts.caAddress, rootsPem: opts.rootsPem }),
    rootsPem: opts.rootsPem,
    identity: { namespace: opts.namespace, serviceAccount: opts.serviceAccount },
    trustDomain: opts.trustDomain,
    token: async () => (await readFile(opts.tokenFile, "utf8")).trim(),
    ...(opts.certTtlSeconds ? { ttlSeconds: opts.certTtlSeconds } : {}),
    log: opts.log,
  });
  const sds: RunningSdsServer = await startSdsServer({ socketPath: opts.socketPath, svids: certs, log: (level, msg) => opts.log(level === "error" ? "warn" : level, msg) });
  let stopped = false;
  let retry: NodeJS.Timeout | undefined;
  let delayMs = 250;
  const first = (): void => {
    certs.start().catch((err: Error) => {
      if (stopped) return;
      opts.log("warn", `no certificate yet from ${opts.caAddress}: ${err.message}; retrying in ${delayMs} ms`);
      retry = setTimeout(first, delayMs);
      delayMs = Math.min(delayMs * 2, 10_000);
    });
  };
  first();
  return {
    sdsAddress: `unix:${opts.socketPath}`,
    ...(opts.xdsAddress ? { xds: { address: opts.xdsAddress, rootsPem: opts.rootsPem } } : {}),
    certs,
    stop: async () => {
      stopped = true;
      if (retry) clearTimeout(retry);
      certs.stop();
      await sds.close();
    },
  };
}

/**
 * What a runtime hands one sidecar so its agent can get certificates: the token and the
 * mesh root as files (0600 / 0644) under `dir`, and the environment pointing at them.
 */
export async function agentEnvironment(opts: { dir: string; name: string; caAddress: string; rootsPem: string; token: string }): Promise<Record<string, string>> {
  await mkdir(opts.dir, { recursive: true, mode: 0o700 });
  const rootFile = join(opts.dir, "mesh-root.pem");
  const tokenFile = join(opts.dir, `${opts.name}.token`);
  await writeFile(rootFile, opts.rootsPem, { mode: 0o644 });
  await writeFile(tokenFile, opts.token, { mode: 0o600 });
  // The TLS port serves xDS and the CA alike (Istio's 15012): the proxy fetches its config there too.
  return { [AGENT_ENV.caAddress]: opts.caAddress, [AGENT_ENV.xdsAddress]: opts.caAddress, [AGENT_ENV.caRootFile]: rootFile, [AGENT_ENV.tokenFile]: tokenFile };
}
