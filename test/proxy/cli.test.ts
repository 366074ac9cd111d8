// `skiff proxy` as a real child process (bootstrap file, xDS from the test ADS server),
// `skiff proxy-config` tables and JSON from its admin endpoint, and graceful drain on
// SIGTERM: the request in flight finishes, then the process exits 0.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFile, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { TestAdsServer } from "./helpers/ads-server.ts";
import { httpListener, loadAssignment, edsCluster, request, routeConfig, startUpstream, vhost, type Upstream } from "./helpers/fixtures.ts";

const bin = path.resolve(import.meta.dirname, "../../bin/skiff.js");
const run = promisify(execFile);

let ads: TestAdsServer;
let app: Upstream;
let child: ChildProcess;
let admin: string;
let release: (() => void) | undefined;
let exitCode: Promise<number | null>;
let dir: string | undefined;

before(async () => {
  ads = new TestAdsServer();
  await ads.start();
  app = await startUpstream((req, res) => {
    if (req.url === "/slow") release = () => res.end("finished");
    else res.end("app");
  });
  ads.set("CDS", [edsCluster("outbound|80||app.default.svc.cluster.local")]);
  ads.set("EDS", [loadAssignment("outbound|80||app.default.svc.cluster.local", [app.port])]);
  ads.set("LDS", [httpListener("0.0.0.0_80", { rds: "80" })]);
  ads.set("RDS", [routeConfig("80", [vhost("app.default.svc.cluster.local:80", ["app", "app:80"], [{ name: "default", match: { prefix: "/" }, route: { cluster: "outbound|80||app.default.svc.cluster.local" } }])])]);
  dir = mkdtempSync(path.join(tmpdir(), "skiff-proxy-"));
  const file = path.join(dir, "bootstrap.yaml");
  writeFileSync(
    file,
    [
      "node:",
      "  id: router~127.0.0.1~gw-1.istio-system~istio-system.svc.cluster.local",
      "  cluster: ingressgateway",
      "admin:",
      "  address: { socket_address: { address: 127.0.0.1, port_value: 0 } }",
      "dynamic_resources:",
      "  ads_config: { grpc_services: [ { envoy_grpc: { cluster_name: xds-grpc } } ] }",
      "static_resources:",
      "  clusters:",
      "  - name: xds-grpc",
      "    load_assignment:",
      "      cluster_name: xds-grpc",
      `      endpoints: [ { lb_endpoints: [ { endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: ${ads.port} } } } } ] } ]`,
      "",
    ].join("\n"),
  );
  child = spawn(process.execPath, [bin, "proxy", "--bootstrap", file, "--log-level", "warning"], { stdio: ["ignore", "pipe", "pipe"] });
  exitCode = new Promise((resolve) => child.once("exit", (code) => resolve(code)));
  let out = "";
  admin = await new Promise<string>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`skiff proxy did not start: ${out}`)), 20_000);
    child.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      const m = /admin (http:\/\/[\d.]+:\d+)/.exec(out);
      if (m) {
        clearTimeout(t);
        resolve(m[1]);
      }
    });
    child.stderr!.on("data", (d: Buffer) => (out += d.toString()));
  });
  const deadline = Date.now() + 15_000;
  while ((await fetch(`${admin}/ready`)).status !== 200) {
    if (Date.now() > deadline) throw new Error("proxy never became ready");
    await new Promise((r) => setTimeout(r, 50));
  }
});

after(async () => {
  if (child.exitCode === null) child.kill("SIGKILL");
  await ads.stop();
  await app.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function listenerPort(): Promise<number> {
  const text = await (await fetch(`${admin}/listeners`)).text();
  return Number(/0\.0\.0\.0_80::127\.0\.0\.1:(\d+)/.exec(text)![1]);
}

test("router mode from the node id; the proxy serves what xDS sent", async () => {
  const info = (await (await fetch(`${admin}/server_info`)).json()) as { command_line_options: { mode: string } };
  assert.equal(info.command_line_options.mode, "router");
  const r = await request(await listenerPort(), "/", { host: "app:80" });
  assert.equal(r.body, "app");
});

test("skiff proxy-config prints tables and raw JSON", async () => {
  const clusters = (await run(process.execPath, [bin, "proxy-config", "cluster", admin])).stdout;
  assert.match(clusters, /^SERVICE FQDN\s+PORT\s+SUBSET\s+DIRECTION\s+TYPE/m);
  assert.match(clusters, /^app\.default\.svc\.cluster\.local\s+80\s+\s+outbound\s+EDS/m);
  const listeners = (await run(process.execPath, [bin, "proxy-config", "listener", admin])).stdout;
  assert.match(listeners, /^127\.0\.0\.1\s+0\s+ALL\s+Route: 80$/m);
  const routes = (await run(process.execPath, [bin, "proxy-config", "route", admin])).stdout;
  assert.match(routes, /^80\s+app, app:80\s+\/\*\s+default$/m);
  const endpoints = (await run(process.execPath, [bin, "proxy-config", "endpoint", admin])).stdout;
  assert.match(endpoints, new RegExp(`^127\\.0\\.0\\.1:${app.port}\\s+HEALTHY\\s+outbound\\|80\\|\\|app`, "m"));
  const json = JSON.parse((await run(process.execPath, [bin, "proxy-config", "route", admin, "-o", "json"])).stdout);
  assert.equal(json["@type"], "type.googleapis.com/envoy.admin.v3.RoutesConfigDump");
  // No agent here: the secret table has its header and no rows.
  assert.match((await run(process.execPath, [bin, "proxy-config", "secret", admin])).stdout, /^RESOURCE NAME\s+TYPE\s+STATUS\s+VALID CERT\s+SERIAL NUMBER\s+NOT AFTER\s+NOT BEFORE\s+SPIFFE ID\n$/);
  await assert.rejects(run(process.execPath, [bin, "proxy-config", "certificates", admin]), (err: { code: number; stderr: string }) => err.code === 2 && /expected a kind/.test(err.stderr));
});

test("SIGTERM drains: the in-flight request finishes, then the process exits 0", async () => {
  const port = await listenerPort();
  const inflight = request(port, "/slow", { host: "app" });
  const deadline = Date.now() + 5000;
  while (!release && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  assert.ok(release, "the request reached the app");
  child.kill("SIGTERM");
  await new Promise((r) => setTimeout(r, 100));
  release!();
  const r = await inflight;
  assert.equal(r.status, 200);
  assert.equal(r.body, "finished");
  assert.equal(await exitCode, 0);
});
