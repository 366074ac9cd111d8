// When is an upsert a no-op? When everything a consumer reads is unchanged: apiVersion,
// kind, metadata (except what the store itself assigns) and spec. Where the object was
// read from (`source`) does not count: moving an object down a file changes no traffic.
import type { AnyResource } from "../api/types.ts";
import { isDeepStrictEqual } from "node:util";

export function sameContent(a: AnyResource, b: AnyResource): boolean {
  return isDeepStrictEqual(comparable(a), comparable(b));
}

function comparable(r: AnyResource): unknown {
  const { resourceVersion: _rv, generation: _gen, creationTimestamp: _ts, ...metadata } = r.metadata;
  return {
    apiVersion: r.apiVersion,
    originalApiVersion: r.originalApiVersion,
    kind: r.kind,
    metadata: dropUndefined(metadata),
    spec: r.spec,
  };
}

function dropUndefined(o: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
}
