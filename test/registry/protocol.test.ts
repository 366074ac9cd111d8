import { test } from "node:test";
import assert from "node:assert/strict";
import { selectKubeProtocol, selectServiceEntryProtocol } from "../../src/registry/index.ts";
import type { KubePortLike, Protocol } from "../../src/registry/index.ts";

// [port as a Kubernetes Service declares it, protocol Istio selects]
const KUBE_CASES: [KubePortLike, Protocol][] = [
  [{ port: 80, name: "http" }, "HTTP"],
  [{ port: 80, name: "http-web" }, "HTTP"],
  [{ port: 80, name: "HTTP-upper" }, "HTTP"],
  [{ port: 80, name: "http2" }, "HTTP2"],
  [{ port: 80, name: "http2-api" }, "HTTP2"],
  [{ port: 9000, name: "grpc" }, "GRPC"],
  [{ port: 9000, name: "grpc-api" }, "GRPC"],
  [{ port: 9000, name: "grpc-web" }, "GRPC-Web"],
  [{ port: 9000, name: "grpc-web-ui" }, "GRPC-Web"],
  [{ port: 443, name: "https" }, "HTTPS"],
  [{ port: 443, name: "https-admin" }, "HTTPS"],
  [{ port: 9000, name: "tcp" }, "TCP"],
  [{ port: 9000, name: "tcp-db" }, "TCP"],
  [{ port: 9000, name: "tls" }, "TLS"],
  [{ port: 9000, name: "tls-passthrough" }, "TLS"],
  [{ port: 9000, name: "mongo" }, "Mongo"],
  [{ port: 9000, name: "redis" }, "Redis"],
  [{ port: 9000, name: "mysql" }, "MySQL"],
  [{ port: 9000, name: "http_proxy" }, "HTTP"],
  // Unknown or missing names are sniffed...
  [{ port: 8080, name: "web" }, "Unsupported"],
  [{ port: 8080, name: "httpx" }, "Unsupported"],
  [{ port: 8080 }, "Unsupported"],
  [{ port: 8080, name: "" }, "Unsupported"],
  // ...except on server-first well-known ports, which are TCP.
  [{ port: 3306 }, "TCP"],
  [{ port: 27017, name: "db" }, "TCP"],
  [{ port: 25 }, "TCP"],
  [{ port: 53, name: "dns" }, "TCP"],
  // A well-known port with a recognised name keeps it.
  [{ port: 3306, name: "mysql" }, "MySQL"],
  // The transport decides UDP; a name cannot make a TCP port UDP.
  [{ port: 53, name: "dns", protocol: "UDP" }, "UDP"],
  [{ port: 9000, name: "http", protocol: "UDP" }, "UDP"],
  [{ port: 9000, name: "udp" }, "TCP"],
  // appProtocol wins over the name.
  [{ port: 80, name: "tcp", appProtocol: "http" }, "HTTP"],
  [{ port: 80, name: "http", appProtocol: "grpc" }, "GRPC"],
  [{ port: 80, name: "http", appProtocol: "kubernetes.io/h2c" }, "HTTP2"],
  [{ port: 80, name: "web", appProtocol: "kubernetes.io/ws" }, "HTTP"],
  [{ port: 443, name: "web", appProtocol: "kubernetes.io/wss" }, "HTTPS"],
  [{ port: 80, name: "http", appProtocol: "custom.example/thing" }, "Unsupported"],
  [{ port: 80, name: "tcp", appProtocol: "HTTP2" }, "HTTP2"],
  [{ port: 80, name: "http", appProtocol: "" }, "HTTP"],
];

for (const [port, expected] of KUBE_CASES) {
  test(`Kubernetes port ${JSON.stringify(port)} → ${expected}`, () => {
    assert.equal(selectKubeProtocol(port), expected);
  });
}

// ServiceEntry ports state their protocol; it is parsed whole, not by prefix.
const SERVICE_ENTRY_CASES: [string | undefined, Protocol][] = [
  ["HTTP", "HTTP"],
  ["http", "HTTP"],
  ["HTTPS", "HTTPS"],
  ["HTTP2", "HTTP2"],
  ["GRPC", "GRPC"],
  ["GRPC-Web", "GRPC-Web"],
  ["TCP", "TCP"],
  ["TLS", "TLS"],
  ["MONGO", "Mongo"],
  ["REDIS", "Redis"],
  ["MYSQL", "MySQL"],
  ["UDP", "UDP"],
  ["http-web", "Unsupported"],
  ["SOAP", "Unsupported"],
  [undefined, "Unsupported"],
];

for (const [protocol, expected] of SERVICE_ENTRY_CASES) {
  test(`ServiceEntry protocol ${String(protocol)} → ${expected}`, () => {
    assert.equal(selectServiceEntryProtocol(protocol), expected);
  });
}
