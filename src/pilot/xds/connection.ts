// One ADS stream's protocol state, state-of-the-world, as the xDS spec has it:
// - a request with an empty response_nonce is a new subscription for its type: answer
//   with everything it asks for;
// - a request whose response_nonce is the last one sent for the type is an ACK (no
//   error_detail) or a NACK (error_detail): a NACK keeps the previous version in
//   effect on the proxy, so our record of what it holds rolls back, the error is kept
//   for /debug and proxy-status, and the rejected version is never sent again (until
//   the config changes to something else);
// - a request with an older nonce is stale (a response crossed it) and is ignored;
// - a changed resource_names list is a subscription change: newly asked-for resources go out.
// LDS and CDS responses always carry the full set (a missing listener or cluster means
// "delete"); RDS and EDS responses carry only what changed, which SotW allows.
// No gRPC here: responses go out through `send`, so this is testable on its own.
import { TypeUrl, XdsTypeName } from "../../envoy/index.ts";
import type { ProxyNode, TranslationProblem } from "../translate/types.ts";
import type { XdsMetrics } from "./metrics.ts";
import { PUSH_ORDER, type EncodedResource } from "./resources.ts";
import { Selection, type NameSet, type NameSets, type TypeResources } from "./selection.ts";
import type { NackRecord, ProxySyncStatus, TypeSyncStatus, XdsShortName } from "./status.ts";

/** A DiscoveryRequest as proto3 JSON. */
export interface DiscoveryRequestJson {
  version_info?: string;
  node?: Record<string, unknown>;
  resource_names?: string[];
  type_url?: string;
  response_nonce?: string;
  error_detail?: { code?: number; message?: string };
}

export interface OutgoingResponse {
  version_info: string;
  type_url: string;
  nonce: string;
  resources: { type_url: string; value: Buffer }[];
}

export type LogFn = (level: "info" | "warn" | "error", message: string) => void;

/** What a connection needs from its server. */
export interface ConnectionDeps {
  send(response: OutgoingResponse): void;
  /** (Re)builds this proxy's resources when the snapshot or its requested listeners changed. */
  build(conn: ProxyConnection): void;
  /** Interns subscribed name lists (shared by every connection of a server). */
  names: NameSets;
  log: LogFn;
  metrics: XdsMetrics;
}

interface SentResponse {
  version: string;
  nonce: string;
  at: number;
  /** First config change behind this response, for convergence time. */
  changeAt?: number;
}

interface Watch {
  typeUrl: string;
  wildcard: boolean;
  names: NameSet;
  sent?: SentResponse;
  ackedVersion?: string;
  ackedNonce?: string;
  /**
   * What the proxy will hold if it ACKs the last response, and what it holds for sure:
   * immutable selections, shared by reference with other proxies of the same scope.
   */
  sentResources: Selection | undefined;
  ackedResources: Selection | undefined;
  lastNack?: NackRecord;
  rejectedVersion?: string;
}

const FULL_STATE_TYPES = new Set<string>([TypeUrl.listener, TypeUrl.cluster]);
const NO_NAMES: NameSet = new Set();

function sameNames(listed: readonly string[], held: NameSet): boolean {
  if (listed.length < held.size) return false;
  for (const n of listed) if (!held.has(n)) return false;
  // Duplicates in the list could hide a missing name: count distinct ones only then.
  return listed.length === held.size || new Set(listed).size === held.size;
}
const shortName = (typeUrl: string): XdsShortName => (XdsTypeName as Record<string, XdsShortName>)[typeUrl] ?? ("?" as XdsShortName);

export class ProxyConnection {
  readonly connectedAt = new Date();
  readonly #watches = new Map<string, Watch>();
  #nonce = 0;
  /** The proxy's current resources, per type URL (set by deps.build): its scope's shared sets and its own. */
  resources: Map<string, TypeResources> | undefined;
  /** What deps.build last built from (snapshot version and requested listeners). */
  builtFrom = "";
  problems: TranslationProblem[] = [];
  /** The stream ended: pushes skip it. */
  closed = false;

  constructor(
    readonly id: string,
    public proxy: ProxyNode,
    private readonly deps: ConnectionDeps,
  ) {}

  handleRequest(req: DiscoveryRequestJson): void {
    const typeUrl = req.type_url ?? "";
    if (!typeUrl) {
      this.deps.log("warn", `${this.proxy.id}: DiscoveryRequest without type_url ignored (ADS needs one per request)`);
      return;
    }
    const names = req.resource_names ?? [];
    const nonce = req.response_nonce ?? "";
    let watch = this.#watches.get(typeUrl);
    if (!watch) {
      watch = { typeUrl, wildcard: false, names: NO_NAMES, sentResources: undefined, ackedResources: undefined };
      this.#watches.set(typeUrl, watch);
    }

    if (nonce === "") {
      // A new subscription for this type (first request, or a reconnect).
      if (req.version_info) watch.ackedVersion = req.version_info;
      this.#subscribe(watch, names);
      this.#afterSubscription(watch, { fresh: true });
      return;
    }
    if (!watch.sent || watch.sent.nonce !== nonce) {
      // Stale: answers an older response; the proxy will answer the newest one too.
      return;
    }
    if (req.error_detail && (req.error_detail.message || req.error_detail.code)) {
      this.#nack(watch, req);
    } else {
      this.#ack(watch, req);
    }
    const added = this.#subscribe(watch, names);
    if (added !== undefined) this.#afterSubscription(watch, { added });
  }

  #ack(watch: Watch, req: DiscoveryRequestJson): void {
    watch.ackedVersion = req.version_info ?? "";
    watch.ackedNonce = req.response_nonce;
    watch.ackedResources = watch.sentResources;
    if (watch.sent?.changeAt !== undefined) {
      this.deps.metrics.convergence.observe((Date.now() - watch.sent.changeAt) / 1000);
    }
  }

  #nack(watch: Watch, req: DiscoveryRequestJson): void {
    const sent = watch.sent as SentResponse;
    const message = req.error_detail?.message ?? `error code ${req.error_detail?.code}`;
    watch.lastNack = { version: sent.version, nonce: sent.nonce, message, at: new Date().toISOString() };
    watch.rejectedVersion = sent.version;
    // The proxy keeps what it had before: so do our books.
    watch.sentResources = watch.ackedResources;
    watch.ackedVersion = req.version_info ?? watch.ackedVersion;
    this.deps.metrics.rejects.inc({ type: shortName(watch.typeUrl).toLowerCase() });
    this.deps.log("warn", `${this.proxy.id}: ${shortName(watch.typeUrl)} version ${sent.version} rejected (NACK): ${message}`);
  }

  /** Updates the subscription; returns the newly added names, or undefined when unchanged. */
  #subscribe(watch: Watch, names: readonly string[]): Set<string> | undefined {
    const wildcardType = FULL_STATE_TYPES.has(watch.typeUrl);
    const wildcard = wildcardType && (names.length === 0 || names.includes("*"));
    const listed = names.filter((n) => n !== "*");
    // ACKs repeat the whole list (1,000s of EDS names): compare before building anything.
    const same = wildcard === watch.wildcard && sameNames(listed, watch.names);
    if (same && watch.sent) return undefined;
    const next = this.deps.names.intern(listed);
    const added = new Set([...next].filter((n) => !watch.names.has(n)));
    watch.wildcard = wildcard;
    watch.names = next;
    if (watch.typeUrl === TypeUrl.listener && !wildcard) {
      // Proxyless gRPC asks for its listeners by name (`host:port`); the translation
      // must know which, so the proxy's resources are rebuilt for them.
      if (this.proxy.type !== "proxyless") this.deps.log("info", `${this.proxy.id}: named LDS subscription, treated as a proxyless gRPC client`);
      this.proxy = { ...this.proxy, type: "proxyless", requestedListeners: [...next].sort() };
    }
    return added;
  }

  #afterSubscription(watch: Watch, opts: { fresh?: boolean; added?: Set<string> }): void {
    const before = this.builtFrom;
    this.deps.build(this);
    if (watch.typeUrl === TypeUrl.listener && this.builtFrom !== before) {
      // New listeners may need clusters and routes the proxy already watches: answer
      // LDS first, then whatever else changed.
      this.#respond(watch, { fresh: true });
      this.push();
      return;
    }
    this.#respond(watch, opts);
  }

  /** After a rebuild: sends each subscribed type whose resources changed, CDS→EDS→LDS→RDS. */
  push(changeAt?: number): void {
    let clustersSent = false;
    const started = Date.now();
    for (const typeUrl of PUSH_ORDER) {
      const watch = this.#watches.get(typeUrl);
      if (!watch) continue; // never asked for: its first request will be answered
      // Envoy warms an updated cluster until EDS answers for it, so EDS follows a CDS push in full.
      const sent = this.#respond(watch, { full: typeUrl === TypeUrl.endpoint && clustersSent, changeAt });
      if (sent) this.deps.metrics.pushTime.observe((Date.now() - started) / 1000, { type: shortName(typeUrl).toLowerCase() });
      if (sent && typeUrl === TypeUrl.cluster) clustersSent = true;
    }
  }

  /**
   * Sends the type if there is something new for it; returns whether it sent.
   * `fresh`: the proxy just (re)subscribed and gets an answer whatever it held;
   * `full`: send every selected resource, not only changed ones;
   * `added`: names just subscribed to, sent even if unchanged.
   */
  #respond(watch: Watch, opts: { fresh?: boolean; full?: boolean; added?: Set<string>; changeAt?: number }): boolean {
    const selected = Selection.of(this.resources?.get(watch.typeUrl), watch.wildcard ? undefined : watch.names);
    const version = selected.version;
    const fullState = FULL_STATE_TYPES.has(watch.typeUrl);
    if (!opts.fresh) {
      if (version === watch.rejectedVersion) return false; // never loop on a rejected version
      if (!opts.full && !opts.added?.size && watch.sent?.version === version) return false;
    }
    let toSend: EncodedResource[];
    if (fullState || opts.fresh || opts.full) toSend = selected.all();
    else {
      toSend = selected.changedSince(watch.sentResources);
      if (opts.added?.size) {
        const have = new Set(toSend.map((r) => r.name));
        for (const name of opts.added) {
          const r = selected.get(name);
          if (r && !have.has(name)) toSend.push(r);
        }
      }
    }
    // RDS/EDS: nothing to say about names that do not exist (yet); LDS/CDS: an empty set is an answer.
    if (!fullState && toSend.length === 0) return false;

    const nonce = String(++this.#nonce);
    const response: OutgoingResponse = {
      version_info: version,
      type_url: watch.typeUrl,
      nonce,
      resources: toSend.map((r) => r.any),
    };
    watch.sentResources = selected;
    watch.sent = { version, nonce, at: Date.now(), changeAt: opts.changeAt };
    const size = toSend.reduce((n, r) => n + r.any.value.length, 0);
    this.deps.metrics.pushes.inc({ type: shortName(watch.typeUrl).toLowerCase() });
    this.deps.metrics.configSize.observe(size, { type: shortName(watch.typeUrl).toLowerCase() });
    this.deps.send(response);
    return true;
  }

  status(): ProxySyncStatus {
    const types: ProxySyncStatus["types"] = {};
    for (const watch of this.#watches.values()) {
      const s: TypeSyncStatus = {
        state: !watch.sent ? "NOT SENT" : watch.ackedNonce === watch.sent.nonce ? "SYNCED" : "STALE",
        wildcard: watch.wildcard,
        resources: watch.sentResources?.size ?? 0,
      };
      if (!watch.wildcard) s.subscribed = [...watch.names].sort();
      if (watch.sent) {
        s.sentVersion = watch.sent.version;
        s.sentNonce = watch.sent.nonce;
        s.sentAt = new Date(watch.sent.at).toISOString();
      }
      if (watch.ackedVersion !== undefined) s.ackedVersion = watch.ackedVersion;
      if (watch.ackedNonce !== undefined) s.ackedNonce = watch.ackedNonce;
      if (watch.lastNack) s.lastNack = watch.lastNack;
      types[shortName(watch.typeUrl)] = s;
    }
    return {
      proxy: this.proxy.id,
      connectionId: this.id,
      type: this.proxy.type,
      namespace: this.proxy.namespace,
      podName: this.proxy.podName,
      cluster: typeof this.proxy.metadata.CLUSTER_ID === "string" ? this.proxy.metadata.CLUSTER_ID : "Kubernetes",
      labels: this.proxy.labels,
      connectedAt: this.connectedAt.toISOString(),
      types,
      translationProblems: this.problems,
    };
  }

  /** The resources the proxy holds (as far as its ACKs say), in config_dump's shape. */
  configDump(): Record<string, unknown> {
    const section = (typeUrl: string): { version: string; resources: { r: EncodedResource; version: string }[] } => {
      const watch = this.#watches.get(typeUrl);
      if (!watch) return { version: "", resources: [] };
      const version = watch.ackedVersion ?? "";
      const resources = [...(watch.ackedResources ?? [])].sort((a, b) => a.name.localeCompare(b.name)).map((r) => ({ r, version }));
      return { version, resources };
    };
    const at = (typeUrl: string): string => {
      const sent = this.#watches.get(typeUrl)?.sent;
      return new Date(sent?.at ?? this.connectedAt.getTime()).toISOString();
    };
    const clusters = section(TypeUrl.cluster);
    const listeners = section(TypeUrl.listener);
    const routes = section(TypeUrl.route);
    const endpoints = section(TypeUrl.endpoint);
    return {
      configs: [
        {
          "@type": "type.googleapis.com/envoy.admin.v3.ClustersConfigDump",
          version_info: clusters.version,
          dynamic_active_clusters: clusters.resources.map(({ r, version }) => ({ version_info: version, cluster: r.json, last_updated: at(TypeUrl.cluster) })),
        },
        {
          "@type": "type.googleapis.com/envoy.admin.v3.ListenersConfigDump",
          version_info: listeners.version,
          dynamic_listeners: listeners.resources.map(({ r, version }) => ({
            name: r.name,
            active_state: { version_info: version, listener: r.json, last_updated: at(TypeUrl.listener) },
          })),
        },
        {
          "@type": "type.googleapis.com/envoy.admin.v3.RoutesConfigDump",
          dynamic_route_configs: routes.resources.map(({ r, version }) => ({ version_info: version, route_config: r.json, last_updated: at(TypeUrl.route) })),
        },
        {
          "@type": "type.googleapis.com/envoy.admin.v3.EndpointsConfigDump",
          dynamic_endpoint_configs: endpoints.resources.map(({ r, version }) => ({ version_info: version, endpoint_config: r.json, last_updated: at(TypeUrl.endpoint) })),
        },
      ],
    };
  }
}
