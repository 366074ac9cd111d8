// Where a V8 heap goes, from a .heapsnapshot file (node --heapsnapshot-signal, or
// bench/proxy/memory.ts --heap-snapshot): self sizes summed by node type (code, strings,
// arrays, closures, objects) and, for objects, by constructor name. Self sizes, not
// retained sizes: enough to see which kinds of objects dominate and which library's
// classes they are.
//
// node --import tsx bench/lib/heapsnapshot.ts FILE.heapsnapshot [TOP=25]
import { readFileSync } from "node:fs";

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}

export interface HeapSummary {
  totalMb: number;
  byType: { type: string; mb: number; count: number }[];
  byName: { name: string; mb: number; count: number }[];
}

export function summarizeHeapSnapshot(file: string, top = 25): HeapSummary {
  const snap = JSON.parse(readFileSync(file, "utf8")) as Snapshot;
  const fields = snap.snapshot.meta.node_fields;
  const types = snap.snapshot.meta.node_types[0];
  const width = fields.length;
  const typeAt = fields.indexOf("type");
  const nameAt = fields.indexOf("name");
  const sizeAt = fields.indexOf("self_size");
  const byType = new Map<string, { bytes: number; count: number }>();
  const byName = new Map<string, { bytes: number; count: number }>();
  let total = 0;
  const add = (m: Map<string, { bytes: number; count: number }>, k: string, bytes: number): void => {
    const e = m.get(k) ?? { bytes: 0, count: 0 };
    e.bytes += bytes;
    e.count++;
    m.set(k, e);
  };
  for (let i = 0; i < snap.nodes.length; i += width) {
    const type = types[snap.nodes[i + typeAt]];
    const bytes = snap.nodes[i + sizeAt];
    total += bytes;
    add(byType, type, bytes);
    // Objects by constructor; code and closures by their name too (which library's functions).
    if (type === "object" || type === "closure" || type === "code") add(byName, `${type} ${snap.strings[snap.nodes[i + nameAt]].slice(0, 60)}`, bytes);
  }
  const mb = (b: number): number => Math.round((b / 1024 / 1024) * 100) / 100;
  const sorted = (m: Map<string, { bytes: number; count: number }>, key: "type" | "name"): { type: string; name: string; mb: number; count: number }[] =>
    [...m.entries()].sort((a, b) => b[1].bytes - a[1].bytes).map(([k, v]) => ({ type: key === "type" ? k : "", name: key === "name" ? k : "", mb: mb(v.bytes), count: v.count }));
  return {
    totalMb: mb(total),
    byType: sorted(byType, "type").map(({ type, mb, count }) => ({ type, mb, count })),
    byName: sorted(byName, "name")
      .slice(0, top)
      .map(({ name, mb, count }) => ({ name, mb, count })),
  };
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split("/").pop()!)) {
  const s = summarizeHeapSnapshot(process.argv[2], Number(process.argv[3] ?? 25));
  console.log(`heap ${s.totalMb} MB (self sizes)\n\nby node type:`);
  for (const t of s.byType) console.log(`  ${t.mb.toFixed(2).padStart(8)} MB  ${String(t.count).padStart(8)}  ${t.type}`);
  console.log("\nlargest by constructor / function name:");
  for (const n of s.byName) console.log(`  ${n.mb.toFixed(2).padStart(8)} MB  ${String(n.count).padStart(8)}  ${n.name}`);
}
