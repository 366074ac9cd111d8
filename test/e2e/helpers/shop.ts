// A small two-service mesh for process-mode e2e tests: Workloads and Services "front" and
// "back" in the injected namespace "shop", both running one tiny node app:
//   GET /healthz    "ok" (the readiness probe)
//   GET /           "hello from NAME", header x-replica: the replica's port
//   GET /call-back  calls http://back/ through the sidecar's HTTP_PROXY, as any
//                   HTTP_PROXY-aware client does (absolute-form), and answers
//                   "NAME -> BODY @REPLICA" with back's status
import { writeFileSync } from "node:fs";
import { join } from "node:path";

export const SHOP_APP = `
import { createServer, request } from "node:http";
const name = process.env.NAME;
createServer((req, res) => {
  if (req.url === "/healthz") return res.end("ok");
  if (req.url === "/call-back") {
    const proxy = new URL(process.env.HTTP_PROXY);
    const r = request({ host: proxy.hostname, port: proxy.port, path: "http://back/", headers: { host: "back" } }, (up) => {
      let body = "";
      up.on("data", (c) => (body += c));
      up.on("end", () => { res.writeHead(up.statusCode); res.end(name + " -> " + body + " @" + up.headers["x-replica"]); });
    });
    r.on("error", (e) => { res.writeHead(502); res.end(String(e)); });
    return r.end();
  }
  res.setHeader("x-replica", process.env.PORT);
  res.end("hello from " + name);
}).listen(Number(process.env.PORT), "127.0.0.1");
process.on("SIGTERM", () => process.exit(0));
`;

export interface ShopOptions {
  /** Replicas per workload (default 1 each). */
  replicas?: { front?: number; back?: number };
  /** Service accounts sa-front and sa-back (their SPIFFE IDs); default: the namespace's default. */
  serviceAccounts?: boolean;
  /** The ingress Gateway and VirtualService to front in the mesh file too; default: left to the test to apply. */
  gateway?: boolean;
}

/** The ingress Gateway and a VirtualService routing every request to front. Without a namespace, apply it with `-n shop`. */
export function shopGateway(namespace?: string): string {
  const metadata = namespace ? `{ name: web, namespace: ${namespace} }` : "{ name: web }";
  return `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: ${metadata}
spec:
  selector: { istio: ingressgateway }
  servers: [{ port: { number: 80, name: http, protocol: HTTP }, hosts: ["*"] }]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: ${metadata}
spec:
  hosts: ["*"]
  gateways: [web]
  http: [{ route: [{ destination: { host: front } }] }]
`;
}

/** The mesh file: the namespace, both Workloads (run by this Node) and their Services. */
export function shopMesh(opts: ShopOptions = {}): string {
  const workload = (name: "front" | "back"): string => `---
apiVersion: skiff.dev/v1alpha1
kind: Workload
metadata: { name: ${name}, namespace: shop }
spec:
  command: [${JSON.stringify(process.execPath)}, "app.mjs"]
  env: { NAME: ${name} }
${opts.replicas?.[name] !== undefined ? `  replicas: ${opts.replicas[name]}\n` : ""}${opts.serviceAccounts ? `  serviceAccount: sa-${name}\n` : ""}  ports: [{ name: http, containerPort: 8080 }]
  labels: { app: ${name} }
  readinessProbe: { httpGet: { path: /healthz, port: http }, periodSeconds: 1 }
---
apiVersion: v1
kind: Service
metadata: { name: ${name}, namespace: shop }
spec:
  selector: { app: ${name} }
  ports: [{ name: http, port: 80, targetPort: http }]
`;
  return `apiVersion: v1
kind: Namespace
metadata: { name: shop, labels: { istio-injection: enabled } }
${workload("front")}${workload("back")}${opts.gateway ? `---\n${shopGateway("shop")}` : ""}`;
}

/** Writes app.mjs and mesh.yaml into `dir` (the app runs from there); returns the mesh file's path. */
export function writeShop(dir: string, opts: ShopOptions = {}): string {
  writeFileSync(join(dir, "app.mjs"), SHOP_APP);
  const file = join(dir, "mesh.yaml");
  writeFileSync(file, shopMesh(opts));
  return file;
}
