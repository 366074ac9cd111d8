// gRPC through a proxy with istio.stats: request_protocol grpc, grpc_response_status from
// the trailers, and message counts each way (a server-streaming call answers with N).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import { TestAdsServer } from "./helpers/ads-server.ts";
import { httpListener, routeConfig, serve, startProxy, staticCluster, vhost, type RunningProxy } from "./helpers/fixtures.ts";
import { parseExposition } from "../../src/telemetry/index.ts";
import { GrpcFrameCounter } from "../../src/proxy/telemetry-grpc.ts";

const raw = { serialize: (b: Buffer) => b, deserialize: (b: Buffer) => b };
const service: grpc.ServiceDefinition = {
  Echo: { path: "/test.Echo/Echo", requestStream: false, responseStream: false, requestSerialize: raw.serialize, requestDeserialize: raw.deserialize, responseSerialize: raw.serialize, responseDeserialize: raw.deserialize },
  Count: { path: "/test.Echo/Count", requestStream: false, responseStream: true, requestSerialize: raw.serialize, requestDeserialize: raw.deserialize, responseSerialize: raw.serialize, responseDeserialize: raw.deserialize },
};
let ads: TestAdsServer;
let proxy: RunningProxy;
let server: grpc.Server;
let client: grpc.Client;

before(async () => {
  server = new grpc.Server();
  server.addService(service, {
    Echo: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
      if (call.request.toString() === "missing") cb({ code: grpc.status.NOT_FOUND, details: "no such thing" });
      else cb(null, call.request);
    },
    Count: (call: grpc.ServerWritableStream<Buffer, Buffer>) => {
      for (let i = 1; i <= Number(call.request.toString()); i++) call.write(Buffer.from(String(i)));
      call.end();
    },
  });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  ads = new TestAdsServer();
  await ads.start();
  proxy = await startProxy(ads);
  const cluster = "outbound|7070||echo.default.svc.cluster.local";
  await serve(ads, proxy, {
    clusters: [staticCluster(cluster, [port], { http2_protocol_options: {} })],
    routes: [routeConfig("r", [vhost("all", ["*"], [{ match: { prefix: "/" }, route: { cluster, timeout: "0s" } }])])],
    listeners: [httpListener("grpc", { rds: "r", filters: [{ name: "istio.stats", typed_config: { "@type": "type.googleapis.com/udpa.type.v1.TypedStruct", type_url: "type.googleapis.com/stats.PluginConfig", value: {} } }] })],
  });
  client = new grpc.Client(`127.0.0.1:${proxy.port("grpc")}`, grpc.credentials.createInsecure());
});

after(async () => {
  client?.close();
  await proxy?.stop();
  await ads?.stop();
  server?.forceShutdown();
});

const unary = (text: string) =>
  new Promise<grpc.ServiceError | null>((resolve) => client.makeUnaryRequest("/test.Echo/Echo", raw.serialize, raw.deserialize, Buffer.from(text), (err) => resolve(err)));

test("frame counter: messages split across chunks and several per chunk", () => {
  const frame = (n: number) => Buffer.concat([Buffer.from([0, 0, 0, 0, n]), Buffer.alloc(n, 7)]);
  const all = Buffer.concat([frame(3), frame(0), frame(300 % 256), frame(10)]);
  for (const size of [1, 2, 5, 7, all.length]) {
    const c = new GrpcFrameCounter();
    for (let i = 0; i < all.length; i += size) c.push(all.subarray(i, i + size));
    assert.equal(c.messages, 4, `chunks of ${size}`);
  }
});

test("gRPC calls: protocol grpc, status from trailers, request and response message counts", async () => {
  assert.equal(await unary("hi"), null);
  assert.equal((await unary("missing"))?.code, grpc.status.NOT_FOUND);
  const got: string[] = [];
  await new Promise<void>((resolve, reject) => {
    const call = client.makeServerStreamRequest("/test.Echo/Count", raw.serialize, raw.deserialize, Buffer.from("4"));
    call.on("data", (b: Buffer) => got.push(b.toString()));
    call.on("end", () => resolve());
    call.on("error", reject);
  });
  assert.deepEqual(got, ["1", "2", "3", "4"]);
  const fams = parseExposition(await (await fetch(`${proxy.adminUrl}/stats/prometheus`)).text());
  const requests = fams.find((f) => f.name === "istio_requests_total")!.samples;
  assert.deepEqual(requests.map((s) => `${s.labels.request_protocol} ${s.labels.response_code} ${s.labels.grpc_response_status} ${s.value}`).sort(), ["grpc 200 0 2", "grpc 200 5 1"]);
  const sum = (name: string, status: string) => fams.find((f) => f.name === name)!.samples.filter((s) => s.labels.grpc_response_status === status).reduce((a, s) => a + s.value, 0);
  assert.equal(sum("istio_request_messages_total", "0"), 2);
  assert.equal(sum("istio_response_messages_total", "0"), 1 + 4);
  assert.equal(sum("istio_request_messages_total", "5"), 1);
  assert.equal(sum("istio_response_messages_total", "5"), 0);
});
