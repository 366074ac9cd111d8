// sa-feedback: POST /feedback {"sentence", "polarity", "correct", ...} stores the
// user's verdict on a polarity durably; GET /feedback lists everything stored (a JSON
// array, oldest first). DATA_DIR says where (default: <OS temp dir>/skiff-sa-feedback,
// outside the repository so running the demo never dirties a checkout).
import os from "node:os";
import path from "node:path";
import { log, readJsonObject, RequestError, runApp, sendJson, sentenceOf } from "../lib/index.ts";
import { FeedbackStore } from "./store.ts";

const NAME = "sa-feedback";
const dataDir = path.resolve(process.env.DATA_DIR || path.join(os.tmpdir(), "skiff-sa-feedback"));

/** Extra fields (a comment, the page's language...) are kept, within reason. */
const MAX_BODY_BYTES = 16 * 1024;

function validate(body: Record<string, unknown>) {
  const sentence = sentenceOf(body);
  const { polarity, correct } = body;
  if (typeof polarity !== "number" || !Number.isFinite(polarity) || polarity < -1 || polarity > 1) {
    throw new RequestError(400, 'field "polarity" must be a number from -1 to 1 (the polarity the user saw)');
  }
  if (typeof correct !== "boolean") {
    throw new RequestError(400, 'field "correct" must be true or false (was the polarity right?)');
  }
  // id and receivedAt are the store's to assign.
  const { id: _id, receivedAt: _receivedAt, ...rest } = body;
  return { ...rest, sentence, polarity, correct };
}

let store: FeedbackStore;
try {
  store = await FeedbackStore.open(dataDir);
} catch (err) {
  log(NAME, { level: "error", msg: `cannot use DATA_DIR ${dataDir}: ${(err as Error).message}; set DATA_DIR to a writable directory` });
  process.exit(1);
}

await runApp({
  name: NAME,
  describe: { file: store.file },
  async handler(req, res) {
    const path = new URL(req.url ?? "/", "http://localhost").pathname;
    if (path !== "/feedback") {
      sendJson(res, 404, { error: `no route for ${path}; use GET or POST /feedback` });
      return;
    }
    if (req.method === "GET" || req.method === "HEAD") {
      const { entries, skipped } = await store.list();
      if (skipped > 0) log(NAME, { level: "warn", msg: `skipped ${skipped} unreadable line(s) in ${store.file}` });
      sendJson(res, 200, entries);
      return;
    }
    if (req.method !== "POST") {
      sendJson(res, 405, { error: "use GET or POST" }, { allow: "GET, HEAD, POST" });
      return;
    }
    try {
      const entry = await store.append(validate(await readJsonObject(req, MAX_BODY_BYTES)));
      sendJson(res, 201, entry);
    } catch (err) {
      if (!(err instanceof RequestError)) throw err;
      sendJson(res, err.status, { error: err.message });
    }
  },
});
