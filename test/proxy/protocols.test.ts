// Protocols through the proxy: HTTP/2 cleartext (prior knowledge) downstream, gRPC with
// trailers and server streaming (real @grpc/grpc-js client and server), and WebSocket
// upgrade. Configured only over xDS; upstreams on loopback.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import http2 from "node:http2";
import net from "node:net";
import * as grpc from "@grpc/grpc-js";
import { TestAdsServer } from "./helpers/ads-server.ts";
import { httpListener, routeConfig, serve, startProxy, startUpstream, staticCluster, vhost, type RunningProxy, type Upstream } from "./helpers/fixtures.ts";

let ads: TestAdsServer;
let proxy: RunningProxy;
let web: Upstream;
let grpcServer: grpc.Server;
let grpcPort: number;
let port: number;

const raw = { serialize: (b: Buffer) => b, deserialize: (b: Buffer) => b };
const service: grpc.ServiceDefinition = {
  Echo: { path: "/test.Echo/Echo", requestStream: false, responseStream: false, requestSerialize: raw.serialize, requestDeserialize: raw.deserialize, responseSerialize: raw.serialize, responseDeserialize: raw.deserialize },
  Count: { path: "/test.Echo/Count", requestStream: false, responseStream: true, requestSerialize: raw.serialize, requestDeserialize: raw.deserialize, responseSerialize: raw.serialize, responseDeserialize: raw.deserialize },
};

before(async () => {
  ads = new TestAdsServer();
  await ads.start();
  web = await startUpstream(undefined, "web");
  // WebSocket-ish upstream: answers the upgrade and echoes bytes upper-cased.
  web.server.on("upgrade", (req: http.IncomingMessage, socket: net.Socket) => {
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nx-path: ${req.url}\r\n\r\n`);
    socket.on("data", (d: Buffer) => socket.write(d.toString().toUpperCase()));
    socket.on("end", () => socket.end()); // http servers allow half-open sockets
    socket.on("error", () => socket.destroy());
  });
  grpcServer = new grpc.Server();
  grpcServer.addService(service, {
    Echo: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
      const text = call.request.toString();
      if (text === "missing") cb({ code: grpc.status.NOT_FOUND, details: "no such thing" });
      else cb(null, Buffer.from(`echo:${text}:${String(call.metadata.get("x-request-id")[0] ?? "")}`));
    },
    Count: (call: grpc.ServerWritableStream<Buffer, Buffer>) => {
      const n = Number(call.request.toString());
      for (let i = 1; i <= n; i++) call.write(Buffer.from(String(i)));
      call.end();
    },
  });
  grpcPort = await new Promise<number>((resolve, reject) => grpcServer.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  proxy = await startProxy(ads);
  await serve(ads, proxy, {
    clusters: [staticCluster("web", [web.port]), staticCluster("grpc", [grpcPort], { http2_protocol_options: {} })],
    listeners: [httpListener("http", { rds: "r", hcm: { upgrade_configs: [{ upgrade_type: "websocket" }] } })],
    routes: [
      routeConfig("r", [
        vhost("all", ["*"], [
          { match: { prefix: "/test.Echo/" }, route: { cluster: "grpc", timeout: "0s" } },
          { match: { prefix: "/" }, route: { cluster: "web" } },
        ]),
      ]),
    ],
  });
  port = proxy.port("http");
});

after(async () => {
  await proxy.stop();
  await ads.stop();
  await web.close();
  grpcServer.forceShutdown();
});

test("HTTP/2 cleartext (prior knowledge) downstream to an HTTP/1.1 upstream", async () => {
  const session = http2.connect(`http://127.0.0.1:${port}`);
  try {
    const { status, body } = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = session.request({ ":path": "/h2?x=1", ":authority": "svc.test", ":method": "GET" });
      let status = 0;
      let body = "";
      req.on("response", (h) => (status = Number(h[":status"])));
      req.setEncoding("utf8");
      req.on("data", (c: string) => (body += c));
      req.on("end", () => resolve({ status, body }));
      req.on("error", reject);
    });
    assert.equal(status, 200);
    const seen = JSON.parse(body);
    assert.equal(seen.url, "/h2?x=1");
    assert.equal(seen.headers.host, "svc.test");
  } finally {
    session.close();
  }
});

test("gRPC unary through the proxy: response, x-request-id, and status from trailers", async () => {
  const Client = grpc.makeGenericClientConstructor(service, "Echo");
  const client = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as unknown as grpc.Client & {
    Echo(req: Buffer, cb: (err: grpc.ServiceError | null, res?: Buffer) => void): void;
    Count(req: Buffer): grpc.ClientReadableStream<Buffer>;
  };
  try {
    const reply = await new Promise<Buffer>((resolve, reject) => client.Echo(Buffer.from("hi"), (e, r) => (e ? reject(e) : resolve(r!))));
    assert.match(reply.toString(), /^echo:hi:[0-9a-f-]{36}$/);
    const err = await new Promise<grpc.ServiceError>((resolve) => client.Echo(Buffer.from("missing"), (e) => resolve(e!)));
    assert.equal(err.code, grpc.status.NOT_FOUND);
    assert.equal(err.details, "no such thing");
    const stream = client.Count(Buffer.from("5"));
    const got: string[] = [];
    for await (const m of stream) got.push((m as Buffer).toString());
    assert.deepEqual(got, ["1", "2", "3", "4", "5"]);
  } finally {
    client.close();
  }
});

test("WebSocket upgrade is relayed and the two sockets are spliced", async () => {
  const socket = net.connect(port, "127.0.0.1");
  try {
    await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
    socket.write("GET /ws HTTP/1.1\r\nhost: svc.test\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-version: 13\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n");
    let text = "";
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no 101: ${text}`)), 5000);
      socket.on("data", (d: Buffer) => {
        text += d.toString();
        if (text.includes("\r\n\r\n")) {
          clearTimeout(t);
          resolve();
        }
      });
    });
    assert.match(text, /^HTTP\/1\.1 101 /);
    assert.match(text, /x-path: \/ws/i);
    socket.removeAllListeners("data");
    const echoed = await new Promise<string>((resolve) => {
      socket.once("data", (d: Buffer) => resolve(d.toString()));
      socket.write("hello");
    });
    assert.equal(echoed, "HELLO");
  } finally {
    socket.destroy();
  }
});
