// The sentiment demo's four apps as real processes talking to each other directly
// (no mesh): what a user of the page, of curl, or of a sidecar in front of them sees.
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { closedPort, postJson, startApp, startRecordingProxy, type RecordingProxy, type RunningApp } from "./sentiment-harness.ts";

function sendTestJson(res: http.ServerResponse, body: unknown): void {
  res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(body));
}

const POSITIVE = "I love this wonderful, happy day";
const NEGATIVE = "This is a terrible, awful and sad mess";

describe("sentiment demo apps", () => {
  // Every process the tests need is started up front, in two parallel waves (each app
  // takes about a second to load), so the file stays fast on two cores.
  let frontend: RunningApp;
  let logic: RunningApp;
  let failingLogic: RunningApp; // v2 with ERROR_RATE=1
  let webapp: RunningApp; // → recorder (a pass-through that records what it sees) → logic
  let failingWebapp: RunningApp; // → failingLogic
  let orphanWebapp: RunningApp; // → a port nothing listens on
  let proxiedWebapp: RunningApp; // HTTP_PROXY=sidecar, SA_LOGIC_URL default
  let noProxyWebapp: RunningApp; // HTTP_PROXY=unusedSidecar, NO_PROXY covers logic
  let recorder: RecordingProxy;
  let sidecar: RecordingProxy;
  let unusedSidecar: RecordingProxy;
  let orphanPort: number;
  let badErrorRate: Promise<unknown>;
  const started: RunningApp[] = [];
  const cleanups: (() => Promise<unknown>)[] = [];

  async function start(...args: Parameters<typeof startApp>): Promise<RunningApp> {
    const app = await startApp(...args);
    started.push(app);
    return app;
  }

  before(async () => {
    badErrorRate = startApp("sa-logic", { ERROR_RATE: "lots" }).then(
      async (app) => {
        await app.stop();
        throw new Error("sa-logic started with ERROR_RATE=lots");
      },
      (err: unknown) => err,
    );
    [frontend, logic, failingLogic, orphanPort] = await Promise.all([
      start("sa-frontend"),
      start("sa-logic"),
      start("sa-logic", { VERSION: "v2", ERROR_RATE: "1" }),
      closedPort(),
    ]);
    [recorder, sidecar, unusedSidecar] = await Promise.all([
      startRecordingProxy({ defaultTarget: logic.url }),
      startRecordingProxy({ hosts: { "sa-logic": logic.url } }),
      startRecordingProxy({}),
    ]);
    for (const proxy of [recorder, sidecar, unusedSidecar]) cleanups.push(() => proxy.close());
    [webapp, failingWebapp, orphanWebapp, proxiedWebapp, noProxyWebapp] = await Promise.all([
      start("sa-webapp", { SA_LOGIC_URL: recorder.url }),
      start("sa-webapp", { SA_LOGIC_URL: failingLogic.url }),
      start("sa-webapp", { SA_LOGIC_URL: `http://127.0.0.1:${orphanPort}` }),
      // SA_LOGIC_URL left at its default, http://sa-logic, as a meshed app has it.
      start("sa-webapp", { HTTP_PROXY: sidecar.url }),
      start("sa-webapp", { HTTP_PROXY: unusedSidecar.url, NO_PROXY: "localhost,127.0.0.1", SA_LOGIC_URL: logic.url }),
    ]);
  });

  after(async () => {
    await Promise.all(cleanups.map((cleanup) => cleanup()));
    await Promise.all(started.map((app) => app.stop().catch(() => undefined)));
  });

  describe("sa-frontend", () => {
    test("serves the page at / and every file it references, with the right content types", async () => {
      const page = await fetch(`${frontend.url}/`);
      assert.equal(page.status, 200);
      assert.equal(page.headers.get("content-type"), "text/html; charset=utf-8");
      const html = await page.text();
      assert.match(html, /<textarea[^>]*id="sentence"/, "the page has a box to type a sentence in");

      const referenced = [...html.matchAll(/(?:src|href)="(\/[^"]*)"/g)].map((m) => m[1]);
      const expected: Record<string, string> = {
        "/static/style.css": "text/css; charset=utf-8",
        "/static/app.js": "text/javascript; charset=utf-8",
        "/static/auth.js": "text/javascript; charset=utf-8",
        "/favicon.ico": "image/x-icon",
        "/logo.png": "image/png",
      };
      assert.deepEqual([...referenced].sort(), Object.keys(expected).sort(), "the page links exactly its assets");
      for (const [urlPath, contentType] of Object.entries(expected)) {
        const res = await fetch(frontend.url + urlPath);
        assert.equal(res.status, 200, urlPath);
        assert.equal(res.headers.get("content-type"), contentType, urlPath);
        assert.ok((await res.arrayBuffer()).byteLength > 0, `${urlPath} is not empty`);
      }
    });

    test("the favicon is an ICO file and the logo a PNG (real images, not placeholders)", async () => {
      const ico = Buffer.from(await (await fetch(`${frontend.url}/favicon.ico`)).arrayBuffer());
      assert.deepEqual([...ico.subarray(0, 4)], [0, 0, 1, 0], "ICO header: reserved 0, type 1 (icon)");
      assert.ok(ico.readUInt16LE(4) >= 1, "at least one image in the icon");
      const png = Buffer.from(await (await fetch(`${frontend.url}/logo.png`)).arrayBuffer());
      assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], "PNG signature");
      assert.equal(png.subarray(12, 16).toString("ascii"), "IHDR");
      // The images are also under /static, as the VirtualService's /static prefix allows.
      assert.equal((await fetch(`${frontend.url}/static/logo.png`)).status, 200);
    });

    test("serves files only: 404 for the APIs and unknown paths, 405 for other methods, no escaping the folder", async () => {
      for (const urlPath of ["/sentiment", "/feedback", "/nope.html", "/static/", "/static/..%2fserver.ts", "/static/%2e%2e/server.ts", "/server.ts"]) {
        const res = await fetch(frontend.url + urlPath);
        assert.equal(res.status, 404, urlPath);
        await res.arrayBuffer();
      }
      const post = await fetch(`${frontend.url}/`, { method: "POST", body: "x" });
      assert.equal(post.status, 405);
      assert.equal(post.headers.get("allow"), "GET, HEAD");
      await post.arrayBuffer();
      const head = await fetch(`${frontend.url}/static/app.js`, { method: "HEAD" });
      assert.equal(head.status, 200);
      assert.ok(Number(head.headers.get("content-length")) > 0);
      assert.equal(await head.text(), "");
    });

    test("answers a repeated request with 304 when the file is unchanged", async () => {
      const first = await fetch(`${frontend.url}/static/app.js`);
      const etag = first.headers.get("etag");
      await first.arrayBuffer();
      assert.ok(etag);
      const again = await fetch(`${frontend.url}/static/app.js`, { headers: { "if-none-match": etag } });
      assert.equal(again.status, 304);
    });
  });

  describe("sa-webapp → sa-logic", () => {
    test("a clearly positive sentence scores above 0 and a clearly negative one below 0", async () => {
      const positive = await postJson(`${webapp.url}/sentiment`, { sentence: POSITIVE });
      assert.equal(positive.status, 200, positive.text);
      assert.equal(positive.json.sentence, POSITIVE);
      assert.equal(typeof positive.json.polarity, "number");
      const p = positive.json.polarity as number;
      assert.ok(p > 0 && p <= 1, `positive polarity in (0, 1], got ${p}`);
      assert.equal(positive.json.version, "v1");
      assert.equal(positive.headers.get("x-version"), "v1");

      const negative = await postJson(`${webapp.url}/sentiment`, { sentence: NEGATIVE });
      assert.equal(negative.status, 200, negative.text);
      const n = negative.json.polarity as number;
      assert.ok(n < 0 && n >= -1, `negative polarity in [-1, 0), got ${n}`);

      const neutral = await postJson(`${webapp.url}/sentiment`, { sentence: "The table is next to the door" });
      assert.equal(neutral.json.polarity, 0);
    });

    test("sa-logic answers directly with its version in the body and the x-version header", async () => {
      const res = await postJson(`${logic.url}/analyse/sentiment`, { sentence: POSITIVE });
      assert.equal(res.status, 200);
      assert.equal(res.json.version, "v1");
      assert.equal(res.headers.get("x-version"), "v1");
      assert.ok((res.json.positive as string[]).includes("love"), "the lexicon words that counted are listed");
    });

    test("a bad request gets a 400 that says what to send", async () => {
      for (const body of [{}, { sentence: "" }, { sentence: 42 }]) {
        const res = await postJson(`${webapp.url}/sentiment`, body);
        assert.equal(res.status, 400);
        assert.match(String(res.json.error), /"sentence" must be a non-empty string/);
      }
      const notJson = await fetch(`${webapp.url}/sentiment`, { method: "POST", body: "{oops" });
      assert.equal(notJson.status, 400);
      assert.match(String(((await notJson.json()) as { error: string }).error), /not valid JSON/);
      const get = await fetch(`${webapp.url}/sentiment`);
      assert.equal(get.status, 405);
      await get.arrayBuffer();
    });

    test("forwards every tracing header to sa-logic, and nothing else of the caller's", async () => {
      const trace: Record<string, string> = {
        "x-request-id": "5f1c1e2a-5b43-4c8e-9d5e-7c3a1f0e2b11",
        traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        tracestate: "skiff=t61rcWkgMzE",
        "x-b3-traceid": "80f198ee56343ba864fe8b2a57d3eff7",
        "x-b3-spanid": "e457b5a2e4d86bd1",
        "x-b3-parentspanid": "05e3ac9a4f6e3b90",
        "x-b3-sampled": "1",
        "x-b3-flags": "1",
        b3: "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1-05e3ac9a4f6e3b90",
        "x-ot-span-context": "fa2b8c3d1e0f4a5b;9c8d7e6f5a4b3c2d;1a2b3c4d5e6f7a8b",
      };
      const res = await postJson(`${webapp.url}/sentiment`, { sentence: POSITIVE }, { ...trace, cookie: "session=secret", "x-user": "alice" });
      assert.equal(res.status, 200, res.text);
      const seen = recorder.requests.find((r) => r.headers["x-request-id"] === trace["x-request-id"]);
      assert.ok(seen, "the request reached sa-logic with its x-request-id");
      assert.equal(seen.url, "/analyse/sentiment");
      for (const [name, value] of Object.entries(trace)) assert.equal(seen.headers[name], value, name);
      assert.equal(seen.headers.cookie, undefined, "the caller's cookie stays with sa-webapp");
      assert.equal(seen.headers["x-user"], undefined);
    });

    test("sa-logic with ERROR_RATE=1 answers 500, and sa-webapp turns that into a 502 with a JSON error", async () => {
      const direct = await postJson(`${failingLogic.url}/analyse/sentiment`, { sentence: POSITIVE });
      assert.equal(direct.status, 500);
      assert.equal(direct.headers.get("x-version"), "v2");

      for (let i = 0; i < 5; i++) {
        const res = await postJson(`${failingWebapp.url}/sentiment`, { sentence: POSITIVE });
        assert.equal(res.status, 502);
        assert.match(String(res.json.error), /sa-logic answered 500/);
        assert.equal(res.headers.get("x-version"), "v2", "which version failed is visible to the caller");
      }
    });

    test("sa-logic unreachable: sa-webapp answers 502 naming where it looked", async () => {
      const res = await postJson(`${orphanWebapp.url}/sentiment`, { sentence: POSITIVE });
      assert.equal(res.status, 502);
      assert.match(String(res.json.error), new RegExp(`127\\.0\\.0\\.1:${orphanPort}`));
    });

    test("a bad ERROR_RATE stops sa-logic at start with a message saying what is allowed", async () => {
      assert.match(String(await badErrorRate), /ERROR_RATE=\\?"lots\\?" must be a number from 0 to 1/);
    });
  });

  describe("HTTP_PROXY (process mode: the sidecar's outbound side is an HTTP proxy)", () => {
    test("sa-webapp sends the absolute URI of http://sa-logic to the proxy, and the answer comes back", async () => {
      const res = await postJson(`${proxiedWebapp.url}/sentiment`, { sentence: NEGATIVE }, { "x-request-id": "r-1" });
      assert.equal(res.status, 200, res.text);
      assert.ok((res.json.polarity as number) < 0);
      assert.equal(sidecar.requests.length, 1);
      const [seen] = sidecar.requests;
      assert.equal(seen.method, "POST");
      assert.equal(seen.url, "http://sa-logic/analyse/sentiment", "absolute-form request target");
      assert.equal(seen.headers.host, "sa-logic");
      assert.equal(seen.headers["x-request-id"], "r-1");
    });

    test("NO_PROXY sends matching hosts direct", async () => {
      const res = await postJson(`${noProxyWebapp.url}/sentiment`, { sentence: POSITIVE });
      assert.equal(res.status, 200, res.text);
      assert.equal(unusedSidecar.requests.length, 0, "nothing went through the proxy");
    });
  });

  describe("sa-feedback", () => {
    let dataDir: string;
    before(async () => {
      dataDir = await mkdtemp(path.join(os.tmpdir(), "sa-feedback-test-"));
      cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
    });

    test("stores feedback durably: entries survive a restart of the app", async () => {
      const first = await startApp("sa-feedback", { DATA_DIR: dataDir });
      const stored = [];
      try {
        assert.deepEqual((await (await fetch(`${first.url}/feedback`)).json()) as unknown[], [], "starts empty");
        for (const [sentence, polarity, correct] of [
          [POSITIVE, 0.8, true],
          [NEGATIVE, 0.3, false],
        ] as const) {
          const res = await postJson(`${first.url}/feedback`, { sentence, polarity, correct, comment: "from the test" });
          assert.equal(res.status, 201, res.text);
          assert.equal(res.json.sentence, sentence);
          assert.equal(typeof res.json.id, "string");
          stored.push(res.json);
        }
      } finally {
        assert.equal(await first.stop(), 0, "SIGTERM is a clean exit");
      }

      const second = await startApp("sa-feedback", { DATA_DIR: dataDir });
      try {
        const listed = (await (await fetch(`${second.url}/feedback`)).json()) as Record<string, unknown>[];
        assert.deepEqual(listed, stored);
        assert.equal(listed[1].correct, false);
        assert.equal(listed[0].comment, "from the test");
      } finally {
        await second.stop();
      }
    });

    test("refuses feedback without a sentence, a polarity in [-1, 1] and a boolean verdict", async () => {
      const app = await start("sa-feedback", { DATA_DIR: dataDir });
      const cases: [unknown, RegExp][] = [
        [{ polarity: 0.5, correct: true }, /"sentence"/],
        [{ sentence: "x", polarity: 2, correct: true }, /"polarity" must be a number from -1 to 1/],
        [{ sentence: "x", polarity: "high", correct: true }, /"polarity"/],
        [{ sentence: "x", polarity: 0.1, correct: "yes" }, /"correct" must be true or false/],
        [["not", "an", "object"], /must be a JSON object/],
      ];
      for (const [body, message] of cases) {
        const res = await postJson(`${app.url}/feedback`, body);
        assert.equal(res.status, 400, JSON.stringify(body));
        assert.match(String(res.json.error), message);
      }
      const listed = (await (await fetch(`${app.url}/feedback`)).json()) as unknown[];
      assert.ok(listed.every((e) => (e as { sentence: string }).sentence !== "x"), "nothing invalid was stored");
    });
  });

  test("SIGTERM drains: a request in flight still gets its answer, new connections are refused, exit 0", async () => {
    // A stand-in for sa-logic that holds each request until the test releases it.
    let arrived!: () => void;
    const requestArrived = new Promise<void>((resolve) => (arrived = resolve));
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const slowLogic = http.createServer((req, res) => {
      req.resume();
      arrived();
      void released.then(() => sendTestJson(res, { sentence: "held", polarity: 0.5, version: "held" }));
    });
    await new Promise<void>((resolve) => slowLogic.listen(0, "127.0.0.1", resolve));
    cleanups.push(() => new Promise((resolve) => slowLogic.close(resolve)));
    const draining = await startApp("sa-webapp", { SA_LOGIC_URL: `http://127.0.0.1:${(slowLogic.address() as AddressInfo).port}` });

    const inFlight = postJson(`${draining.url}/sentiment`, { sentence: "held" });
    await requestArrived;
    const exitCode = draining.stop();
    for (let i = 0; i < 200 && !draining.output().includes('"shutting down"'); i++) await sleep(25);
    assert.match(draining.output(), /"shutting down"/);
    await assert.rejects(fetch(`${draining.url}/healthz`), "a new connection is refused while draining");
    release();
    const answer = await inFlight;
    assert.equal(answer.status, 200, answer.text);
    assert.equal(answer.json.polarity, 0.5);
    assert.equal(await exitCode, 0);
  });

  test("every app answers GET /healthz for the readiness probe", async () => {
    for (const app of [frontend, webapp, logic]) {
      const res = await fetch(`${app.url}/healthz`);
      assert.equal(res.status, 200, app.name);
      assert.deepEqual(await res.json(), { status: "ok" });
    }
  });
});
