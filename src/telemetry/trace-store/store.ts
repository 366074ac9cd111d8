// In-memory span storage for the embedded trace store, answering the queries of
// Zipkin's v2 API. Bounded by a span count; when full, whole traces are evicted,
// least recently written first (a Map keeps insertion order, and a trace that gets
// a new span is moved to the end), so a trace is never left half-stored.

import type { Span } from "../tracing/span.ts";

export interface TraceQuery {
  serviceName?: string;
  spanName?: string;
  /** Microseconds, inclusive. */
  minDuration?: number;
  maxDuration?: number;
  /** Zipkin's annotationQuery: `key=value` (tag equals) or `key` (tag or annotation present), joined by ` and `. */
  annotationQuery?: string;
  /** Epoch ms; only traces with a span starting in [endTs - lookback, endTs]. */
  endTs?: number;
  lookback?: number;
  limit?: number;
}

export interface TraceStoreOptions {
  /** Default 100 000 spans. */
  maxSpans?: number;
}

export class TraceStore {
  private readonly traces = new Map<string, Span[]>();
  private spanCount = 0;
  private readonly maxSpans: number;
  evictedTraces = 0;

  constructor(options: TraceStoreOptions = {}) {
    this.maxSpans = options.maxSpans ?? 100_000;
  }

  get size(): { traces: number; spans: number } {
    return { traces: this.traces.size, spans: this.spanCount };
  }

  add(spans: readonly Span[]): void {
    for (const s of spans) {
      const list = this.traces.get(s.traceId);
      if (list) {
        // Re-inserting moves the trace to the most-recent end.
        this.traces.delete(s.traceId);
        // A span reported twice (retry of an export) replaces the earlier copy.
        const dup = list.findIndex((x) => x.id === s.id && x.kind === s.kind && !!x.shared === !!s.shared);
        if (dup >= 0) list[dup] = s;
        else {
          list.push(s);
          this.spanCount++;
        }
        this.traces.set(s.traceId, list);
      } else {
        this.traces.set(s.traceId, [s]);
        this.spanCount++;
      }
    }
    // Bounded: each round removes one whole trace.
    while (this.spanCount > this.maxSpans && this.traces.size > 1) {
      const oldest = this.traces.keys().next().value as string;
      this.spanCount -= this.traces.get(oldest)!.length;
      this.traces.delete(oldest);
      this.evictedTraces++;
    }
  }

  services(): string[] {
    const out = new Set<string>();
    for (const list of this.traces.values()) {
      for (const s of list) {
        if (s.localEndpoint?.serviceName) out.add(s.localEndpoint.serviceName);
      }
    }
    return [...out].sort();
  }

  spanNames(serviceName: string): string[] {
    const svc = serviceName.toLowerCase();
    const out = new Set<string>();
    for (const list of this.traces.values()) {
      for (const s of list) if (s.localEndpoint?.serviceName === svc && s.name) out.add(s.name);
    }
    return [...out].sort();
  }

  /** One trace, spans in parent-before-child order; undefined when unknown. */
  trace(traceId: string): Span[] | undefined {
    const id = traceId.toLowerCase();
    const list = this.traces.get(id.length === 16 ? "0".repeat(16) + id : id);
    return list ? orderTrace(list) : undefined;
  }

  /** Matching traces, most recent first; a trace matches when one span meets every condition. */
  query(q: TraceQuery): Span[][] {
    const svc = q.serviceName?.toLowerCase();
    const name = q.spanName?.toLowerCase();
    const conditions = parseAnnotationQuery(q.annotationQuery);
    const endUs = q.endTs !== undefined ? q.endTs * 1000 : Infinity;
    const startUs = q.endTs !== undefined && q.lookback !== undefined ? (q.endTs - q.lookback) * 1000 : -Infinity;
    const matches = (s: Span): boolean => {
      if (svc !== undefined && s.localEndpoint?.serviceName !== svc) return false;
      if (name !== undefined && name !== "all" && s.name !== name) return false;
      if (q.minDuration !== undefined && s.duration < q.minDuration) return false;
      if (q.maxDuration !== undefined && s.duration > q.maxDuration) return false;
      if (s.timestamp < startUs || s.timestamp > endUs) return false;
      for (const [k, v] of conditions) {
        if (v === undefined) {
          if (!(k in s.tags) && !(s.annotations ?? []).some((a) => a.value === k)) return false;
        } else if (s.tags[k] !== v) return false;
      }
      return true;
    };
    const found: { start: number; spans: readonly Span[] }[] = [];
    for (const list of this.traces.values()) {
      if (!list.some(matches)) continue;
      let start = Infinity;
      for (const s of list) if (s.timestamp < start) start = s.timestamp;
      found.push({ start, spans: list });
    }
    found.sort((a, b) => b.start - a.start);
    // Order only the traces that are returned.
    return found.slice(0, q.limit ?? 10).map((t) => orderTrace(t.spans));
  }
}

function parseAnnotationQuery(q: string | undefined): [string, string | undefined][] {
  if (!q) return [];
  return q
    .split(" and ")
    .map((c) => c.trim())
    .filter((c) => c !== "")
    .map((c) => {
      const eq = c.indexOf("=");
      return eq < 0 ? [c, undefined] : [c.slice(0, eq), c.slice(eq + 1)];
    });
}

/**
 * Parents before children: a depth-first walk from the roots (spans whose parent is
 * not in the trace), siblings by start time. A shared server span (same id as its
 * client span) comes right after that client span.
 */
export function orderTrace(spans: readonly Span[]): Span[] {
  const byTime = [...spans].sort((a, b) => a.timestamp - b.timestamp || (a.shared ? 1 : 0) - (b.shared ? 1 : 0));
  const ids = new Set(byTime.map((s) => s.id));
  const children = new Map<string, Span[]>();
  const roots: Span[] = [];
  for (const s of byTime) {
    if (s.shared) {
      // A shared span hangs under the client span with its own id.
      push(children, s.id + ":shared", s);
    } else if (s.parentId && ids.has(s.parentId) && s.parentId !== s.id) push(children, s.parentId, s);
    else roots.push(s);
  }
  const out: Span[] = [];
  const seen = new Set<Span>();
  const visit = (s: Span, depth: number) => {
    if (seen.has(s) || depth > 10_000) return;
    seen.add(s);
    out.push(s);
    for (const sh of children.get(s.id + ":shared") ?? []) visit(sh, depth + 1);
    for (const c of children.get(s.id) ?? []) visit(c, depth + 1);
  };
  for (const r of roots) visit(r, 0);
  // Anything unreachable (a cycle in bad input) still comes back, in time order.
  for (const s of byTime) if (!seen.has(s)) out.push(s);
  return out;
}

function push<K, V>(m: Map<K, V[]>, k: K, v: V): void {
  const list = m.get(k);
  if (list) list.push(v);
  else m.set(k, [v]);
}
