// tcp_proxy chains with Istio's network istio.stats filter and an access log: the four TCP
// metrics and one log line per connection, read back through /stats/prometheus and the file.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import http from "node:http";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { AddressInfo } from "node:net";
import { TestAdsServer } from "./helpers/ads-server.ts";
import { serve, startProxy, staticCluster, T, type RunningProxy } from "./helpers/fixtures.ts";
import { parseExposition } from "../../src/telemetry/index.ts";

const TYPED_STRUCT = "type.googleapis.com/udpa.type.v1.TypedStruct";
let ads: TestAdsServer;
let proxy: RunningProxy;
let echo: net.Server;
let dir: string;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "skiff-tcp-telemetry-"));
  echo = net.createServer((s) => s.pipe(s));
  await new Promise<void>((r) => echo.listen(0, "127.0.0.1", r));
  ads = new TestAdsServer();
  await ads.start();
  proxy = await startProxy(ads);
  const cluster = "outbound|7000||echo.default.svc.cluster.local";
  await serve(ads, proxy, {
    clusters: [staticCluster(cluster, [(echo.address() as AddressInfo).port])],
    listeners: [
      {
        name: "tcp",
        address: { socket_address: { address: "127.0.0.1", port_value: 0 } },
        filter_chains: [
          {
            filters: [
              { name: "istio.stats", typed_config: { "@type": TYPED_STRUCT, type_url: "type.googleapis.com/stats.PluginConfig", value: {} } },
              {
                name: "envoy.filters.network.tcp_proxy",
                typed_config: {
                  "@type": T.tcpProxy,
                  stat_prefix: cluster,
                  cluster,
                  access_log: [
                    {
                      name: "envoy.access_loggers.file",
                      typed_config: {
                        "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog",
                        path: join(dir, "tcp.log"),
                        log_format: { text_format_source: { inline_string: "%UPSTREAM_CLUSTER% %BYTES_RECEIVED% %BYTES_SENT% %RESPONSE_FLAGS% %PROTOCOL%\n" } },
                      },
                    },
                  ],
                },
              },
            ],
          },
        ],
      },
    ],
  });
});

after(async () => {
  await proxy?.stop();
  await ads?.stop();
  await new Promise<void>((r) => (echo ? echo.close(() => r()) : r()));
  rmSync(dir, { recursive: true, force: true });
});

function get(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    http.get(url, { agent: false }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => resolve(body));
    }).on("error", reject);
  });
}

test("a TCP connection is counted (opened, closed, bytes both ways) and logged once", async () => {
  const sock = net.connect(proxy.port("tcp"), "127.0.0.1");
  await new Promise<void>((r) => sock.once("connect", () => r()));
  sock.write("hello tcp!"); // 10 bytes
  await new Promise<void>((r) => sock.once("data", () => r()));
  await new Promise<void>((r) => {
    sock.once("close", () => r());
    sock.end();
  });
  let text = "";
  for (let i = 0; i < 100; i++) {
    text = await get(`${proxy.adminUrl}/stats/prometheus`);
    if (/istio_tcp_connections_closed_total\{/.test(text)) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  const fams = parseExposition(text);
  const one = (name: string) => {
    const s = fams.find((f) => f.name === name)?.samples ?? [];
    assert.equal(s.length, 1, name);
    return s[0];
  };
  const opened = one("istio_tcp_connections_opened_total");
  assert.equal(opened.value, 1);
  assert.equal(opened.labels.reporter, "source");
  assert.equal(opened.labels.request_protocol, "tcp");
  assert.equal(opened.labels.destination_service, "echo.default.svc.cluster.local");
  assert.equal(opened.labels.response_code, undefined);
  assert.equal(one("istio_tcp_connections_closed_total").value, 1);
  assert.equal(one("istio_tcp_received_bytes_total").value, 10);
  assert.equal(one("istio_tcp_sent_bytes_total").value, 10);
  let log = "";
  for (let i = 0; i < 100 && !log.includes("\n"); i++) {
    try {
      log = readFileSync(join(dir, "tcp.log"), "utf8");
    } catch {
      /* not yet */
    }
    if (!log.includes("\n")) await new Promise((r) => setTimeout(r, 20));
  }
  assert.equal(log, "outbound|7000||echo.default.svc.cluster.local 10 10 - -\n");
});
