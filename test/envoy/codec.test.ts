// Round trips of realistic Envoy resources through the proto codec, and the errors a
// proxy turns into NACKs.
import { test } from "node:test";
import assert from "node:assert/strict";
import { decodeAny, decodeMessage, encodeAny, encodeMessage, EnvoyJsonError, TypeUrl, protoRoot } from "../../src/envoy/index.ts";
import { TypeUrl as TranslateTypeUrl } from "../../src/pilot/translate/types.ts";

const listener = {
  "@type": TypeUrl.listener,
  name: "0.0.0.0_9080",
  address: { socket_address: { address: "0.0.0.0", port_value: 9080 } },
  filter_chains: [
    {
      filters: [
        {
          name: "envoy.filters.network.http_connection_manager",
          typed_config: {
            "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
            stat_prefix: "outbound_0.0.0.0_9080",
            rds: { config_source: { ads: {}, resource_api_version: "V3" }, route_config_name: "9080" },
            http_filters: [
              {
                name: "envoy.filters.http.router",
                typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" },
              },
            ],
            stream_idle_timeout: "0s",
            normalize_path: true,
            use_remote_address: false,
          },
        },
      ],
    },
  ],
  traffic_direction: "OUTBOUND",
  metadata: { filter_metadata: { istio: { config: "/apis/x", weights: [1, 2.5], on: true, none: null } } },
};

const cluster = {
  "@type": TypeUrl.cluster,
  name: "outbound|9080|v1|reviews.default.svc.cluster.local",
  type: "EDS",
  eds_cluster_config: { eds_config: { ads: {}, resource_api_version: "V3" }, service_name: "outbound|9080|v1|reviews.default.svc.cluster.local" },
  connect_timeout: "10s",
  lb_policy: "LEAST_REQUEST",
  circuit_breakers: {
    thresholds: [{ max_connections: 4294967295, max_pending_requests: 100, max_requests: 4294967295, max_retries: 4294967295, track_remaining: true }],
  },
  outlier_detection: {
    consecutive_5xx: 7,
    interval: "1.500s",
    base_ejection_time: "0.030s",
    max_ejection_percent: 100,
    enforcing_consecutive_5xx: 100,
  },
  per_connection_buffer_limit_bytes: 32768,
};

const routeConfig = {
  "@type": TypeUrl.route,
  name: "9080",
  virtual_hosts: [
    {
      name: "reviews.default.svc.cluster.local:9080",
      domains: ["reviews.default.svc.cluster.local", "reviews", "reviews:9080"],
      routes: [
        {
          match: { safe_regex: { regex: "/api/v[0-9]+/.*" }, headers: [{ name: "end-user", string_match: { exact: "jason" } }] },
          route: {
            weighted_clusters: {
              clusters: [
                { name: "outbound|9080|v1|reviews.default.svc.cluster.local", weight: 90 },
                { name: "outbound|9080|v2|reviews.default.svc.cluster.local", weight: 10 },
              ],
            },
            timeout: "0s",
            retry_policy: {
              retry_on: "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes",
              num_retries: 2,
              retry_host_predicate: [{ name: "envoy.retry_host_predicates.previous_hosts" }],
              host_selection_retry_max_attempts: "5",
              retriable_status_codes: [503],
            },
          },
          name: "reviews-split",
        },
      ],
    },
  ],
  validate_clusters: false,
};

const assignment = {
  "@type": TypeUrl.endpoint,
  cluster_name: "outbound|9080|v1|reviews.default.svc.cluster.local",
  endpoints: [
    {
      locality: { region: "eu", zone: "eu-1" },
      lb_endpoints: [
        {
          endpoint: { address: { socket_address: { address: "10.0.0.1", port_value: 9080 } } },
          load_balancing_weight: 3,
          health_status: "HEALTHY",
        },
      ],
      load_balancing_weight: 3,
    },
  ],
};

for (const [name, resource] of Object.entries({ listener, cluster, routeConfig, assignment })) {
  test(`${name} survives encode → bytes → decode unchanged`, () => {
    const any = encodeAny(resource);
    assert.equal(any.type_url, resource["@type"]);
    assert.ok(any.value.length > 20);
    assert.deepEqual(decodeAny(any), resource);
  });
}

test("the translate contract's type URLs are the envoy room's", () => {
  assert.deepEqual({ ...TranslateTypeUrl }, { ...TypeUrl });
});

test("proto3 JSON forms: camelCase accepted, defaults dropped, int64 as string, durations canonical", () => {
  const json = decodeMessage(
    "envoy.config.cluster.v3.Cluster",
    encodeMessage("envoy.config.cluster.v3.Cluster", {
      name: "c",
      connectTimeout: "2.5s", // lowerCamel json name is accepted on input
      lb_policy: "ROUND_ROBIN", // the default enum value: omitted on output
      max_requests_per_connection: 0, // a UInt32Value wrapper holding 0 is still present
      ignore_health_on_host_removal: false, // plain bool at default: omitted
      outlier_detection: { interval: "0.000001s", base_ejection_time: "3s" },
      upstream_connection_options: { tcp_keepalive: { keepalive_time: 300 } },
      dns_refresh_rate: "-1.5s",
    }),
  );
  assert.deepEqual(json, {
    name: "c",
    connect_timeout: "2.500s",
    max_requests_per_connection: 0,
    outlier_detection: { interval: "0.000001s", base_ejection_time: "3s" },
    upstream_connection_options: { tcp_keepalive: { keepalive_time: 300 } },
    dns_refresh_rate: "-1.500s",
  });
});

test("int64 accepts numbers and strings, prints strings; bytes are base64", () => {
  const route = decodeMessage(
    "envoy.config.route.v3.RetryPolicy",
    encodeMessage("envoy.config.route.v3.RetryPolicy", { host_selection_retry_max_attempts: 9007199254740993n.toString() }),
  );
  assert.equal(route.host_selection_retry_max_attempts, "9007199254740993");
  const fromNumber = decodeMessage("envoy.config.route.v3.RetryPolicy", encodeMessage("envoy.config.route.v3.RetryPolicy", { host_selection_retry_max_attempts: 3 }));
  assert.equal(fromNumber.host_selection_retry_max_attempts, "3");
  const ds = { inline_bytes: Buffer.from("hello\0world").toString("base64") };
  assert.deepEqual(decodeMessage("envoy.config.core.v3.DataSource", encodeMessage("envoy.config.core.v3.DataSource", ds)), ds);
});

test("Timestamp and nested Any inside a Struct-free message round trip", () => {
  const dump = {
    "@type": "type.googleapis.com/envoy.admin.v3.ClustersConfigDump",
    version_info: "7",
    dynamic_active_clusters: [{ version_info: "7", cluster: { ...cluster }, last_updated: "2026-01-02T03:04:05.123Z" }],
  };
  assert.deepEqual(decodeAny(encodeAny(dump)), dump);
});

test("an unknown field is rejected with its path and message type", () => {
  const bad = structuredClone(listener);
  (bad.filter_chains[0].filters[0].typed_config as Record<string, unknown>).stat_prefx = "typo";
  assert.throws(
    () => encodeAny(bad),
    (err: unknown) =>
      err instanceof EnvoyJsonError &&
      err.path === "filter_chains[0].filters[0].typed_config.stat_prefx" &&
      /envoy\.config\.listener\.v3\.Listener/.test(err.message) &&
      /unknown field "stat_prefx" of envoy\.extensions\.filters\.network\.http_connection_manager\.v3\.HttpConnectionManager/.test(err.message),
  );
});

test("wrong types, bad enums, bad durations, two oneof members and unknown @type are errors", () => {
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ ...cluster, connect_timeout: 10 }, /connect_timeout: expected a duration/],
    [{ ...cluster, lb_policy: "FASTEST" }, /lb_policy: invalid value string "FASTEST" for enum/],
    [{ ...cluster, per_connection_buffer_limit_bytes: -1 }, /per_connection_buffer_limit_bytes: -1 is out of range/],
    [{ ...cluster, name: 5 }, /at name: expected a string/],
    [{ ...cluster, type: "STATIC", cluster_type: { name: "x" } }, /only one of oneof "cluster_discovery_type"/],
    [{ "@type": "type.googleapis.com/envoy.NoSuch", name: "x" }, /unknown message type "envoy.NoSuch"/],
    [{ name: "no type" }, /missing "@type"/],
  ];
  for (const [json, pattern] of cases) {
    assert.throws(() => encodeAny(json), (err: unknown) => err instanceof EnvoyJsonError && pattern.test(err.message), `expected ${pattern}`);
  }
});

test("the Root exposes the ADS service for gRPC", () => {
  const service = protoRoot().lookupService("envoy.service.discovery.v3.AggregatedDiscoveryService");
  assert.deepEqual(Object.keys(service.methods).sort(), ["DeltaAggregatedResources", "StreamAggregatedResources"]);
});
