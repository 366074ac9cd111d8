// What the tutorial walks (process mode and netns mode) ask of the gateway: plain HTTP
// calls, bounded polling, and counting which sa-logic version answered.
import assert from "node:assert/strict";
import { eventually as poll } from "./mesh.ts";

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
export function eventually<T>(fn: () => Promise<T>, check: (v: T) => boolean, tries = 150): Promise<T> {
  return poll(fn, check, tries);
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

/**
 * The tutorial's step 2, the same in every mode: apply the Gateway and the ingress
 * VirtualService with `apply`, then the page, a static file, the favicon, the image,
 * a positive and a negative sentence, and feedback stored and listed.
 */
export async function assertIngressServesTheApp(
  port: number,
  istioDir: string,
  apply: (...args: string[]) => Promise<{ code: number; stderr: string }>,
): Promise<void> {
  const applied = await apply("apply", "-f", `${istioDir}/http-gateway.yaml`, "-f", `${istioDir}/vs-route-ingress.yaml`);
  assert.equal(applied.code, 0, applied.stderr);
  const page = await eventually(() => call(port, "/"), (r) => r.status === 200);
  assert.equal(page.status, 200);
  assert.match(page.type, /text\/html/);
  const css = await call(port, "/static/style.css");
  assert.equal(css.status, 200);
  assert.match(css.type, /text\/css/);
  const icon = await call(port, "/favicon.ico");
  assert.equal(icon.status, 200);
  assert.match(icon.type, /image\//);
  const logo = await call(port, "/logo.png");
  assert.equal(logo.status, 200);
  assert.match(logo.type, /image\/png/);

  const good = await call(port, "/sentiment", { sentence: "I love this wonderful day" });
  assert.equal(good.status, 200, good.body);
  assert.ok((JSON.parse(good.body) as { polarity: number }).polarity > 0, good.body);
  const bad = await call(port, "/sentiment", { sentence: "this is terrible and awful" });
  assert.ok((JSON.parse(bad.body) as { polarity: number }).polarity < 0, bad.body);

  const stored = await call(port, "/feedback", { sentence: "I love this wonderful day", polarity: 0.8, correct: true });
  assert.equal(stored.status, 201, stored.body);
  const list = JSON.parse((await call(port, "/feedback")).body) as { sentence: string }[];
  assert.deepEqual(list.map((e) => e.sentence), ["I love this wonderful day"]);
}

/**
 * The tutorial's step 3, the same in every mode: the canary VirtualService splits 1,000
 * requests 90/10 (within 4 sigma); applying the v1-only one again brings 100% back.
 */
export async function assertCanarySplitsAndReverts(
  port: number,
  istioDir: string,
  apply: (...args: string[]) => Promise<{ code: number; stderr: string }>,
): Promise<void> {
  const canary = await apply("apply", "-f", `${istioDir}/sa-logic-vs-canary.yaml`);
  assert.equal(canary.code, 0, canary.stderr);
  // The new routes are in effect once v2 answers at all.
  assert.equal(await eventually(() => version(port), (v) => v === "v2", 300), "v2");
  const counts = await versions(port, 1000);
  const v2 = counts.get("v2") ?? 0;
  assert.equal((counts.get("v1") ?? 0) + v2, 1000);
  const sigma = Math.sqrt(1000 * 0.1 * 0.9);
  assert.ok(Math.abs(v2 - 100) <= 4 * sigma, `v2 answered ${v2} of 1000`);

  const back = await apply("apply", "-f", `${istioDir}/sa-logic-vs.yaml`);
  assert.equal(back.code, 0, back.stderr);
  // Converged once 30 in a row come from v1; then every one of 200 must.
  let streak = 0;
  for (let i = 0; i < 600 && streak < 30; i++) streak = (await version(port)) === "v1" ? streak + 1 : 0;
  assert.equal(streak, 30);
  assert.deepEqual([...(await versions(port, 200))], [["v1", 200]]);
}
