// sa-logic: POST /analyse/sentiment {"sentence"} → {"sentence", "polarity", "version"}.
// VERSION (default v1) names this build in the answer and in the x-version header, so
// a caller can see which version answered; ERROR_RATE (0..1, default 0) makes that share
// of requests fail with 500 — version v2 of the canary walk-through is this same code
// with an error rate.
import { log, readJsonObject, RequestError, runApp, sendJson, sentenceOf } from "../lib/index.ts";
import { score } from "./polarity.ts";

const NAME = "sa-logic";
const version = process.env.VERSION || "v1";
const errorRate = parseErrorRate(process.env.ERROR_RATE);

function parseErrorRate(raw: string | undefined): number {
  if (raw === undefined || raw === "") return 0;
  const rate = Number(raw);
  if (!Number.isFinite(rate) || rate < 0 || rate > 1) {
    log(NAME, { level: "error", msg: `ERROR_RATE="${raw}" must be a number from 0 to 1 (e.g. 0.5 fails half the requests)` });
    process.exit(2);
  }
  return rate;
}

await runApp({
  name: NAME,
  describe: { version, errorRate },
  async handler(req, res) {
    const headers = { "x-version": version };
    const path = new URL(req.url ?? "/", "http://localhost").pathname;
    if (path !== "/analyse/sentiment") {
      sendJson(res, 404, { error: `no route for ${path}; use POST /analyse/sentiment` }, headers);
      return;
    }
    if (req.method !== "POST") {
      sendJson(res, 405, { error: "use POST" }, { ...headers, allow: "POST" });
      return;
    }
    // Math.random() < 1 always holds and < 0 never does, so 1 and 0 are exact.
    if (Math.random() < errorRate) {
      req.resume();
      sendJson(res, 500, { error: "injected failure (ERROR_RATE)", version }, headers);
      return;
    }
    try {
      const sentence = sentenceOf(await readJsonObject(req));
      const { polarity, positive, negative } = score(sentence);
      sendJson(res, 200, { sentence, polarity, version, positive, negative }, headers);
    } catch (err) {
      if (!(err instanceof RequestError)) throw err;
      sendJson(res, err.status, { error: err.message }, headers);
    }
  },
});
