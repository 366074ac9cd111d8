// Issue 7 "Done when", metrics: a real Prometheus (Debian's `prometheus`) scrapes the running
// demo with the config `skiff prometheus-config` writes, and the PromQL of Istio's standard
// Grafana dashboards (Istio Service and Workload dashboards: request volume, success rate,
// P50/P90/P99 by source and destination workload) returns the traffic this test sent, with
// Istio's labels, as reported by both the source and the destination proxy. Prometheus scrapes
// each proxy's merged port (Istio's 15020, job kubernetes-pods), so the apps' own metrics
// (the sample's prometheus.io/* annotations) arrive beside the proxies'.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { writeFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { kernelFreePort } from "../../src/runtime/index.ts";
import { ISTIO, eventually, startDemo } from "./helpers/demo-up.ts";

const PROMETHEUS = spawnSync("prometheus", ["--version"], { encoding: "utf8" }).status === 0 ? "prometheus" : undefined;

const WEBAPP = "sa-webapp.demo.svc.cluster.local";
const LOGIC = "sa-logic.demo.svc.cluster.local";

interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}

test(
  "Prometheus scrapes the demo; Istio's service and workload dashboard queries return the test's traffic with Istio's labels",
  { timeout: 240_000, skip: PROMETHEUS ? false : "prometheus is not installed (Debian package `prometheus`)" },
  async (t) => {
    const demo = await startDemo(t);
    const applied = await demo.skiff("apply", "-f", join(ISTIO, "http-gateway.yaml"), "-f", join(ISTIO, "vs-route-ingress.yaml"));
    assert.equal(applied.code, 0, applied.stderr);

    const sentiment = () =>
      fetch(`http://127.0.0.1:${demo.port}/sentiment`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ sentence: "a good day" }),
        signal: AbortSignal.timeout(10_000),
      });
    // Routes converge after apply: warm up until the chain answers.
    const warm = await eventually(sentiment, (r) => r.status === 200);
    assert.equal(warm.status, 200);
    // One 404 before the baseline too: rate()/increase() count a series' growth only after its first sample.
    const missing = () => fetch(`http://127.0.0.1:${demo.port}/sentiment/missing`, { signal: AbortSignal.timeout(10_000) });
    assert.equal((await missing()).status, 404);

    // Prometheus with Skiff's scrape config, scraping every second.
    const generated = await demo.skiff("prometheus-config", "--run-dir", demo.runDir, "--scrape-interval", "1s");
    assert.equal(generated.code, 0, generated.stderr);
    const config = join(demo.dir, "prometheus.yml");
    writeFileSync(config, generated.stdout);
    const storage = join(demo.dir, "prometheus-data");
    mkdirSync(storage);
    const promPort = await kernelFreePort();
    const prom = spawn(PROMETHEUS!, [`--config.file=${config}`, `--storage.tsdb.path=${storage}`, `--web.listen-address=127.0.0.1:${promPort}`], {
      stdio: ["ignore", "ignore", "pipe"],
    });
    let promLog = "";
    prom.stderr.on("data", (c: Buffer) => (promLog = (promLog + c.toString()).slice(-4000)));
    const promExited = new Promise<void>((r) => prom.once("exit", () => r()));
    t.after(async () => {
      if (prom.exitCode === null) prom.kill("SIGTERM");
      await Promise.race([promExited, new Promise((r) => setTimeout(r, 10_000))]);
    });

    const query = async (q: string): Promise<Sample[]> => {
      const res = await fetch(`http://127.0.0.1:${promPort}/api/v1/query?query=${encodeURIComponent(q)}`, { signal: AbortSignal.timeout(5_000) });
      const body = (await res.json()) as { status: string; error?: string; data: { result: Sample[] } };
      assert.equal(body.status, "success", `${q}: ${body.error}`);
      return body.data.result;
    };
    // Waits until every proxy has been scraped after `since` (epoch seconds), so counters read after it include all traffic before it.
    const scrapedAfter = async (since: number) => {
      const targets = (generated.stdout.match(/127\.0\.0\.1:\d+/g) ?? []).length;
      const r = await eventually(
        () => query(`min(timestamp(up{job="kubernetes-pods"} == 1)) > ${since} and count(up{job="kubernetes-pods"} == 1) >= ${targets - 1}`),
        (s) => s.length === 1,
        150,
      );
      assert.equal(r.length, 1, `Prometheus has not scraped every proxy after ${since}; its log:\n${promLog}\nup: ${JSON.stringify(await query("up"))}`);
    };
    // Raw counters by Istio's labels, keyed "reporter source→destination code".
    const counts = async (): Promise<Map<string, number>> => {
      const rows = await query(
        `sum(istio_requests_total{destination_service=~"${WEBAPP}|${LOGIC}"}) by (reporter, source_workload, destination_workload, destination_service, response_code)`,
      );
      return new Map(rows.map((s) => [`${s.metric.reporter} ${s.metric.source_workload}→${s.metric.destination_workload} ${s.metric.destination_service} ${s.metric.response_code}`, Number(s.value[1])]));
    };

    // sa-logic's own count of the requests it answered, merged into its sidecars' 15020 scrape.
    const appCount = async (): Promise<number> => {
      const rows = await query(`sum(sentiment_app_requests_total{job="kubernetes-pods",namespace="demo",pod=~"sa-logic-.*",method="POST",code="200"})`);
      return Number(rows[0]?.value[1] ?? 0);
    };

    // Settle: let in-flight records land (a proxy records at stream end, just after the client sees the response).
    await new Promise((r) => setTimeout(r, 1000));
    await scrapedAfter(Date.now() / 1000);
    const before = await counts();
    const appBefore = await appCount();

    const OK = 12;
    const MISSING = 4;
    for (let i = 0; i < OK; i++) {
      const r = await sentiment();
      assert.equal(r.status, 200, await r.text());
    }
    // sa-webapp answers 404 for any path under /sentiment but /sentiment itself.
    for (let i = 0; i < MISSING; i++) {
      const r = await missing();
      await r.arrayBuffer();
      assert.equal(r.status, 404);
    }
    await new Promise((r) => setTimeout(r, 1000));
    await scrapedAfter(Date.now() / 1000);
    const after = await counts();
    const appAfter = await appCount();
    const delta = new Map([...after].map(([k, v]) => [k, v - (before.get(k) ?? 0)]).filter(([, v]) => v !== 0) as [string, number][]);
    const seen = JSON.stringify(Object.fromEntries(delta), null, 1);

    // Request volume by labels: exactly the requests sent, seen by both reporters.
    const gateway = [...delta.keys()].find((k) => k.startsWith("source ") && k.endsWith(`${WEBAPP} 200`))?.split(" ")[1].split("→")[0];
    assert.ok(gateway && /ingressgateway/.test(gateway), `the gateway as the source of sa-webapp's requests: ${seen}`);
    for (const reporter of ["source", "destination"]) {
      assert.equal(delta.get(`${reporter} ${gateway}→sa-webapp ${WEBAPP} 200`), OK, `${reporter} 200s gateway→sa-webapp: ${seen}`);
      assert.equal(delta.get(`${reporter} ${gateway}→sa-webapp ${WEBAPP} 404`), MISSING, `${reporter} 404s gateway→sa-webapp: ${seen}`);
      // Each 200 at sa-webapp made one call to sa-logic (the 404s did not).
      assert.equal(delta.get(`${reporter} sa-webapp→sa-logic ${LOGIC} 200`), OK, `${reporter} sa-webapp→sa-logic: ${seen}`);
    }

    // The app's own metric through 15020: sa-logic counted each of the 200s sa-webapp forwarded.
    assert.equal(appAfter - appBefore, OK, `sentiment_app_requests_total at sa-logic: ${appBefore} → ${appAfter}`);

    // Istio Service Dashboard: request volume (ops/s) over the last minute.
    const volume = await query(`round(sum(irate(istio_requests_total{reporter="destination",destination_service=~"${WEBAPP}"}[1m])), 0.001)`);
    const rate = await query(`sum(rate(istio_requests_total{reporter="destination",destination_service=~"${WEBAPP}"}[1m]))`);
    assert.equal(volume.length, 1, JSON.stringify(volume));
    assert.equal(rate.length, 1);
    assert.ok(Number(rate[0].value[1]) > 0, `request volume: ${JSON.stringify(rate)}`);
    // Success rate (non-5xx): 404s count as success in Istio's dashboards.
    const success = await query(
      `sum(rate(istio_requests_total{reporter="destination",destination_service=~"${WEBAPP}",response_code!~"5.*"}[1m])) / sum(rate(istio_requests_total{reporter="destination",destination_service=~"${WEBAPP}"}[1m]))`,
    );
    assert.equal(success.length, 1, JSON.stringify(success));
    assert.equal(Number(success[0].value[1]), 1);
    // The 404s' share of the volume, from the same counters: MISSING of the requests in the window.
    const missingShare = await query(
      `sum(increase(istio_requests_total{reporter="destination",destination_service=~"${WEBAPP}",response_code="404"}[1m])) / sum(increase(istio_requests_total{reporter="destination",destination_service=~"${WEBAPP}"}[1m]))`,
    );
    const share = Number(missingShare[0]?.value[1]);
    assert.ok(share > 0 && share < 1, `404 share: ${JSON.stringify(missingShare)}`);

    // P50/P90/P99 by source and destination workload: the Service Dashboard's inbound view
    // (reporter=destination at sa-webapp) and the Workload Dashboard's outbound view
    // (reporter=source, source_workload=sa-webapp).
    const views = [
      { filter: `reporter="destination",destination_service=~"${WEBAPP}"`, source: gateway, destination: "sa-webapp" },
      { filter: `reporter="source",source_workload="sa-webapp",source_workload_namespace="demo"`, source: "sa-webapp", destination: "sa-logic" },
    ];
    for (const view of views) {
      const quantiles: number[] = [];
      for (const q of [0.5, 0.9, 0.99]) {
        const rows = await query(
          `histogram_quantile(${q}, sum(rate(istio_request_duration_milliseconds_bucket{${view.filter}}[1m])) by (le, source_workload, destination_workload))`,
        );
        assert.equal(rows.length, 1, `P${q * 100} ${view.filter}: ${JSON.stringify(rows)}`);
        assert.equal(rows[0].metric.source_workload, view.source);
        assert.equal(rows[0].metric.destination_workload, view.destination);
        const ms = Number(rows[0].value[1]);
        assert.ok(Number.isFinite(ms) && ms > 0, `P${q * 100} ${view.filter} = ${rows[0].value[1]}`);
        quantiles.push(ms);
      }
      assert.ok(quantiles[0] <= quantiles[1] && quantiles[1] <= quantiles[2], `P50 ≤ P90 ≤ P99: ${quantiles.join(", ")}`);
    }

    assert.equal(await demo.stop(), 0);
  },
);
