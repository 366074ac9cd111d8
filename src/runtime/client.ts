// The light half of the runtime's public face, for the CLI commands that talk to a
// running mesh (`skiff apply/delete/status/logs`): the run directory and one JSON call
// to the mesh's local API. It loads nothing heavy (no control plane, no config schemas),
// so those commands start fast.
import { request } from "node:http";
export { runDir, logDir, stateFile, readState, runningMesh, processAlive, NoMeshError, type MeshState, type ProcessRecord } from "./run-dir.ts";
export type { ApplyOutcome, MeshStatus, GatewayStatus } from "./mesh.ts";
export type { ChangeRequest, Document } from "./api.ts";
export type { ReplicaStatus } from "./replica.ts";

/** Client side: one JSON call to the running mesh's API. */
export function callMesh<T>(apiPort: number, method: "GET" | "POST", path: string, body?: unknown): Promise<{ status: number; body: T }> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = request(
      { host: "127.0.0.1", port: apiPort, method, path, headers: payload ? { "content-type": "application/json", "content-length": Buffer.byteLength(payload) } : {}, timeout: 30_000 },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          try {
            resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString("utf8")) as T });
          } catch (err) {
            reject(err);
          }
        });
      },
    );
    req.on("timeout", () => req.destroy(new Error("the mesh did not answer within 30 s")));
    req.on("error", reject);
    req.end(payload);
  });
}

