// The running mesh's local API, on 127.0.0.1 only (its port is in the state file):
// what `skiff apply`, `skiff delete` and `skiff status` talk to.
//   GET  /status                          → MeshStatus
//   POST /apply  {documents, namespace}   → ApplyOutcome (422 when refused)
//   POST /delete {documents, namespace}   → ApplyOutcome
// `documents` are the files' texts with their paths, parsed here so that diagnostics
// point at the user's file and line and relative paths in Workloads resolve against it.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { formatDiagnostic, loadText, sortDiagnostics, type AnyResource, type Diagnostic } from "../api/index.ts";
import type { ApplyOutcome, LocalMesh } from "./mesh.ts";

export interface Document {
  file: string;
  text: string;
}

export interface ChangeRequest {
  documents: Document[];
  namespace?: string;
}

function parseDocuments(documents: Document[]): { resources: AnyResource[]; diagnostics: Diagnostic[] } {
  const resources: AnyResource[] = [];
  const diagnostics: Diagnostic[] = [];
  for (const doc of documents) {
    const loaded = loadText(doc.text, doc.file);
    resources.push(...loaded.resources);
    diagnostics.push(...loaded.diagnostics);
  }
  return { resources, diagnostics: sortDiagnostics(diagnostics) };
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > 32 * 1024 * 1024) throw new Error("request too large (over 32 MiB of config)");
    chunks.push(chunk as Buffer);
  }
  return JSON.parse(Buffer.concat(chunks).toString("utf8"));
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
}

export class MeshApiServer {
  readonly #server: Server;

  constructor(private readonly mesh: LocalMesh) {
    this.#server = createServer((req, res) => void this.#handle(req, res));
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const path = new URL(req.url ?? "/", "http://localhost").pathname;
      if (req.method === "GET" && path === "/status") return send(res, 200, this.mesh.status());
      if (req.method === "POST" && (path === "/apply" || path === "/delete")) {
        const body = (await readJson(req)) as ChangeRequest;
        const { resources, diagnostics } = parseDocuments(body.documents ?? []);
        if (diagnostics.some((d) => d.severity === "error")) {
          return send(res, 422, { applied: false, diagnostics, messages: diagnostics.map(formatDiagnostic), objects: [] } satisfies ApplyOutcome);
        }
        const namespace = body.namespace || "default";
        const outcome = path === "/apply" ? this.mesh.apply(resources, namespace) : this.mesh.delete(resources, namespace);
        outcome.diagnostics = sortDiagnostics([...diagnostics, ...outcome.diagnostics]);
        // Rendered here so the CLI need not load the api room to print them.
        outcome.messages = outcome.diagnostics.map(formatDiagnostic);
        return send(res, outcome.applied ? 200 : 422, outcome);
      }
      send(res, 404, { error: `no such endpoint: ${req.method} ${path}` });
    } catch (err) {
      send(res, 400, { error: err instanceof Error ? err.message : String(err) });
    }
  }

  listen(port = 0): Promise<number> {
    return new Promise((resolve, reject) => {
      this.#server.once("error", reject);
      this.#server.listen(port, "127.0.0.1", () => {
        const address = this.#server.address();
        resolve(typeof address === "object" && address ? address.port : 0);
      });
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.#server.closeAllConnections();
      this.#server.close(() => resolve());
    });
  }
}

