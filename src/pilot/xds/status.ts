// What /debug/syncz reports per connected proxy, and what `skiff proxy-status` reads.
import type { ProxyType, TranslationProblem } from "../translate/types.ts";

export type XdsShortName = "CDS" | "LDS" | "EDS" | "RDS" | "SDS";
export type SyncState = "SYNCED" | "NOT SENT" | "STALE";

export interface NackRecord {
  /** The version the proxy rejected. */
  version: string;
  nonce: string;
  message: string;
  at: string;
}

export interface TypeSyncStatus {
  state: SyncState;
  wildcard: boolean;
  /** Resource names subscribed to (named subscriptions only). */
  subscribed?: string[];
  sentVersion?: string;
  sentNonce?: string;
  sentAt?: string;
  ackedVersion?: string;
  ackedNonce?: string;
  /** How many resources the proxy holds after the last response. */
  resources: number;
  lastNack?: NackRecord;
}

export interface ProxySyncStatus {
  proxy: string;
  connectionId: string;
  type: ProxyType;
  namespace: string;
  podName: string;
  /** The cluster the proxy says it is in (node metadata CLUSTER_ID), `Kubernetes` as Istio defaults. */
  cluster: string;
  labels: Record<string, string>;
  connectedAt: string;
  types: Partial<Record<XdsShortName, TypeSyncStatus>>;
  translationProblems: TranslationProblem[];
}
