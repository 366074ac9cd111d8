// What the tutorial walks (process mode and netns mode) ask of the gateway: plain HTTP
// calls, bounded polling, and counting which sa-logic version answered.
import assert from "node:assert/strict";

export interface Reply {
  status: number;
  type: string;
  body: string;
}

export async function call(port: number, path: string, body?: unknown): Promise<Reply> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, {
    method: body === undefined ? "GET" : "POST",
    headers: body === undefined ? {} : { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  return { status: res.status, type: res.headers.get("content-type") ?? "", body: await res.text() };
}

/** Polls `fn` every 200 ms until `check` passes (at most `tries` times); the last value, or the last error. */
export async function eventually<T>(fn: () => Promise<T>, check: (v: T) => boolean, tries = 150): Promise<T> {
  let error: unknown;
  for (let i = 0; i < tries; i++) {
    try {
      const value = await fn();
      if (check(value) || i === tries - 1) return value;
    } catch (err) {
      error = err;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw error;
}

/** The sa-logic version that answered one sentiment request (gateway → sa-webapp → sa-logic). */
export async function version(port: number): Promise<string> {
  const r = await call(port, "/sentiment", { sentence: "a good day" });
  assert.equal(r.status, 200, r.body);
  return (JSON.parse(r.body) as { version: string }).version;
}

/** How many of `n` sentiment requests each sa-logic version answered; ten in flight at a time. */
export async function versions(port: number, n: number): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (let i = 0; i < n; i += 10) {
    const batch = await Promise.all(Array.from({ length: Math.min(10, n - i) }, () => version(port)));
    for (const v of batch) counts.set(v, (counts.get(v) ?? 0) + 1);
  }
  return counts;
}
