// sa-frontend: serves the single-page app's static files (GET and HEAD only). The page
// itself calls /sentiment and /feedback on the same origin; the ingress gateway sends
// those to sa-webapp and sa-feedback, so this server never sees them (404 here).
import { fileURLToPath } from "node:url";
import { runApp, sendJson } from "../lib/index.ts";
import { loadStaticFiles, resolvePath } from "./static-files.ts";

const NAME = "sa-frontend";
const dir = fileURLToPath(new URL("./static/", import.meta.url));
const files = loadStaticFiles(dir);

await runApp({
  name: NAME,
  describe: { files: [...files.keys()] },
  handler(req, res) {
    if (req.method !== "GET" && req.method !== "HEAD") {
      sendJson(res, 405, { error: "this server only serves files: use GET or HEAD" }, { allow: "GET, HEAD" });
      return;
    }
    const urlPath = new URL(req.url ?? "/", "http://localhost").pathname;
    const file = resolvePath(files, urlPath);
    if (!file) {
      sendJson(res, 404, { error: `no file at ${urlPath}` });
      return;
    }
    const headers = {
      "content-type": file.contentType,
      etag: file.etag,
      // Revalidate every time (cheap with the ETag) so a redeployed frontend shows at once.
      "cache-control": "no-cache",
      "x-content-type-options": "nosniff",
    };
    if (req.headers["if-none-match"] === file.etag) {
      res.writeHead(304, headers);
      res.end();
      return;
    }
    res.writeHead(200, { ...headers, "content-length": file.body.length });
    res.end(req.method === "HEAD" ? undefined : file.body);
  },
});
