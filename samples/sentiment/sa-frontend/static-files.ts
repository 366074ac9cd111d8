// The frontend's files, loaded once at start-up, and the URL layout the ingress
// VirtualService expects: index.html at "/", every file under "/static/<name>", and the
// images (favicon.ico, logo.png, ...) also at "/<name>", matching the route regex
// ^.*\.(ico|png|jpg)$. Only names that exist in the folder are served, so no URL can
// reach outside it.
import { createHash } from "node:crypto";
import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";

export interface StaticFile {
  body: Buffer;
  contentType: string;
  etag: string;
}

const CONTENT_TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".ico": "image/x-icon",
  ".png": "image/png",
  ".jpg": "image/jpeg",
  ".jpeg": "image/jpeg",
  ".svg": "image/svg+xml",
  ".json": "application/json; charset=utf-8",
  ".txt": "text/plain; charset=utf-8",
};

const ROOT_LEVEL = /\.(ico|png|jpg|jpeg|svg)$/i;

export function loadStaticFiles(dir: string): Map<string, StaticFile> {
  const files = new Map<string, StaticFile>();
  for (const name of readdirSync(dir).sort()) {
    const full = path.join(dir, name);
    if (name.startsWith(".") || !statSync(full).isFile()) continue;
    const body = readFileSync(full);
    const contentType = CONTENT_TYPES[path.extname(name).toLowerCase()] ?? "application/octet-stream";
    const etag = `"${createHash("sha256").update(body).digest("base64url").slice(0, 16)}"`;
    files.set(name, { body, contentType, etag });
  }
  if (!files.has("index.html")) throw new Error(`${dir} has no index.html`);
  return files;
}

/** The file a URL path names, or undefined (→ 404). */
export function resolvePath(files: Map<string, StaticFile>, urlPath: string): StaticFile | undefined {
  if (urlPath === "/" || urlPath === "/index.html") return files.get("index.html");
  let name: string;
  try {
    name = decodeURIComponent(urlPath.startsWith("/static/") ? urlPath.slice("/static/".length) : urlPath.slice(1));
  } catch {
    return undefined; // malformed percent-encoding
  }
  if (urlPath.startsWith("/static/")) return files.get(name);
  return ROOT_LEVEL.test(name) ? files.get(name) : undefined;
}
