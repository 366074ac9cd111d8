// The access-log table of the issue, through a real proxy: one line per request with the
// response code, Envoy's response flags and response code details for success, 404 NR,
// 503 UH, 503 UF, 504 UT, 403 RBAC and a fault-injected 503 FI; and the same requests
// as istio_requests_total series.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { TestAdsServer } from "./helpers/ads-server.ts";
import { httpListener, request, routeConfig, serve, startProxy, staticCluster, startUpstream, vhost, T, type RunningProxy, type Upstream } from "./helpers/fixtures.ts";
import { parseExposition } from "../../src/telemetry/index.ts";

const TYPED_STRUCT = "type.googleapis.com/udpa.type.v1.TypedStruct";
const RBAC = "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC";
const RBAC_PER_ROUTE = "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBACPerRoute";
let ads: TestAdsServer;
let proxy: RunningProxy;
let app: Upstream;
let slow: Upstream;
let dir: string;
let closedPort: number;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "skiff-flags-"));
  app = await startUpstream(undefined, "app");
  slow = await startUpstream((_req, res) => setTimeout(() => res.end("late"), 2000), "slow");
  // A port nothing listens on: take one and close it.
  const tmp = net.createServer();
  await new Promise<void>((r) => tmp.listen(0, "127.0.0.1", r));
  closedPort = (tmp.address() as net.AddressInfo).port;
  await new Promise<void>((r) => tmp.close(() => r()));
  ads = new TestAdsServer();
  await ads.start();
  proxy = await startProxy(ads);
  const r = (prefix: string, action: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({ match: { prefix }, ...action, ...extra });
  await serve(ads, proxy, {
    clusters: [
      staticCluster("outbound|80||app.default.svc.cluster.local", [app.port]),
      staticCluster("outbound|80||slow.default.svc.cluster.local", [slow.port]),
      staticCluster("outbound|80||down.default.svc.cluster.local", [closedPort]),
      staticCluster("outbound|80||empty.default.svc.cluster.local", []),
    ],
    routes: [
      routeConfig("80", [
        vhost("all", ["*"], [
          r("/ok", { route: { cluster: "outbound|80||app.default.svc.cluster.local" } }),
          r("/uh", { route: { cluster: "outbound|80||empty.default.svc.cluster.local" } }),
          r("/uf", { route: { cluster: "outbound|80||down.default.svc.cluster.local" } }),
          r("/ut", { route: { cluster: "outbound|80||slow.default.svc.cluster.local", timeout: "0.2s" } }),
          r("/fi", { route: { cluster: "outbound|80||app.default.svc.cluster.local" } }, {
            typed_per_filter_config: { "envoy.filters.http.fault": { "@type": T.fault, abort: { http_status: 503, percentage: { numerator: 100, denominator: "HUNDRED" } } } },
          }),
          r("/rbac", { route: { cluster: "outbound|80||app.default.svc.cluster.local" } }, {
            typed_per_filter_config: { "envoy.filters.http.rbac": { "@type": RBAC_PER_ROUTE, rbac: { rules: { action: "DENY", policies: { "deny-all": { permissions: [{ any: true }], principals: [{ any: true }] } } } } } },
          }),
        ]),
      ]),
    ],
    listeners: [
      httpListener("outbound_0.0.0.0_80", {
        rds: "80",
        filters: [
          { name: "istio.stats", typed_config: { "@type": TYPED_STRUCT, type_url: "type.googleapis.com/stats.PluginConfig", value: {} } },
          { name: "envoy.filters.http.fault", typed_config: { "@type": T.fault } },
          { name: "envoy.filters.http.rbac", typed_config: { "@type": RBAC, rules: { action: "ALLOW", policies: { all: { permissions: [{ any: true }], principals: [{ any: true }] } } } } },
        ],
        hcm: {
          access_log: [
            {
              name: "envoy.access_loggers.file",
              typed_config: {
                "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog",
                path: join(dir, "flags.log"),
                log_format: { text_format_source: { inline_string: "%REQ(:PATH)% %RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS% %UPSTREAM_CLUSTER%\n" } },
              },
            },
          ],
        },
      }),
    ],
  });
});

after(async () => {
  await proxy?.stop();
  await ads?.stop();
  await app?.close();
  await slow?.close();
  rmSync(dir, { recursive: true, force: true });
});

const table: [path: string, line: string][] = [
  ["/ok", "/ok 200 - via_upstream outbound|80||app.default.svc.cluster.local"],
  ["/nope", "/nope 404 NR route_not_found -"],
  ["/uh", "/uh 503 UH no_healthy_upstream outbound|80||empty.default.svc.cluster.local"],
  ["/uf", "/uf 503 UF upstream_reset_before_response_started{remote_connection_failure} outbound|80||down.default.svc.cluster.local"],
  ["/ut", "/ut 504 UT upstream_response_timeout outbound|80||slow.default.svc.cluster.local"],
  ["/rbac", "/rbac 403 - rbac_access_denied_matched_policy[deny-all] -"],
  ["/fi", "/fi 503 FI fault_filter_abort -"],
];

test("one access log line per request, with Envoy's code, flags and details", async () => {
  for (const [path] of table) await request(proxy.port("outbound_0.0.0.0_80"), path, { host: "app" });
  let lines: string[] = [];
  for (let i = 0; i < 100 && lines.length < table.length; i++) {
    try {
      lines = readFileSync(join(dir, "flags.log"), "utf8").split("\n").filter(Boolean);
    } catch {
      /* not yet */
    }
    if (lines.length < table.length) await new Promise((r) => setTimeout(r, 20));
  }
  assert.deepEqual(lines, table.map(([, line]) => line));
});

test("the same requests as istio_requests_total: code and flags per series", async () => {
  const text = await (await fetch(`${proxy.adminUrl}/stats/prometheus`)).text();
  const samples = parseExposition(text).find((f) => f.name === "istio_requests_total")!.samples;
  const seen = samples.map((s) => `${s.labels.response_code} ${s.labels.response_flags} ${s.labels.destination_service} ${s.value}`).sort();
  assert.deepEqual(seen, [
    "200 - app.default.svc.cluster.local 1",
    "403 - app.default.svc.cluster.local 1",
    "404 NR app.default.svc.cluster.local 1",
    "503 FI app.default.svc.cluster.local 1",
    "503 UF down.default.svc.cluster.local 1",
    "503 UH empty.default.svc.cluster.local 1",
    "504 UT slow.default.svc.cluster.local 1",
  ]);
});
