// Pure pieces of the front half, without sockets: route table compilation errors (the
// NACK text), domain precedence, header mutation order, literal regex prefixes, the
// ClientHello/preface inspection and filter chain precedence.
import { test } from "node:test";
import assert from "node:assert/strict";
import tls from "node:tls";
import net from "node:net";
import { RouteTable } from "../../src/proxy/route-table.ts";
import { ConfigError } from "../../src/proxy/json.ts";
import { literalPrefix } from "../../src/proxy/string-match.ts";
import { inspectBytes } from "../../src/proxy/inspect.ts";
import { parseChainMatch, selectFilterChain } from "../../src/proxy/filter-chain-match.ts";
import { formatResponseFlags, ResponseFlag } from "../../src/proxy/request-context.ts";

const direct = (body: string) => ({ match: { prefix: "/" }, direct_response: { status: 200, body: { inline_string: body } } });

test("unknown fields and bad values are ConfigErrors naming the field path", () => {
  const cases: Array<[Record<string, unknown>, RegExp]> = [
    [{ name: "r", virtual_hosts: [{ name: "v", domains: ["*"], routes: [{ match: { prefix: "/", grpc: {} }, route: { cluster: "c" } }] }] }, /^virtual_hosts\[0\]\.routes\[0\]\.match\.grpc: field is not implemented/],
    [{ name: "r", virtual_hosts: [{ name: "v", domains: ["*"], routes: [{ match: { prefix: "/" }, route: { cluster: "c", retry_policy: { retry_on: "5xx,bogus" } } }] }] }, /retry_policy\.retry_on: retry condition "bogus" is not implemented/],
    [{ name: "r", virtual_hosts: [{ name: "a", domains: ["x"], routes: [] }, { name: "b", domains: ["X"], routes: [] }] }, /^virtual_hosts\[1\]\.domains: domain "X" appears in more than one virtual host/],
    [{ name: "r", virtual_hosts: [{ name: "v", domains: ["*"], routes: [{ match: { prefix: "/" }, route: { cluster: "c" }, request_headers_to_add: [{ header: { key: "x", value: "%DOWNSTREAM_REMOTE_ADDRESS%" } }] }] }] }, /header value formatters/],
    [{ name: "r", virtual_hosts: [{ name: "v", domains: ["*"], routes: [{ match: { prefix: "/" }, redirect: { response_code: "NOPE" } }] }] }, /redirect\.response_code: unknown redirect response code NOPE/],
  ];
  for (const [json, re] of cases) {
    assert.throws(() => new RouteTable(json), (err: unknown) => err instanceof ConfigError && re.test(err.message), String(re));
  }
});

test("domain precedence: exact > longest suffix > longest prefix > *; port is part of the host unless stripped", () => {
  const t = new RouteTable({
    name: "r",
    virtual_hosts: [
      { name: "star", domains: ["*"], routes: [direct("star")] },
      { name: "pre", domains: ["foo.*"], routes: [direct("pre")] },
      { name: "pre-long", domains: ["foo.bar.*"], routes: [direct("pre-long")] },
      { name: "suf", domains: ["*.com"], routes: [direct("suf")] },
      { name: "suf-long", domains: ["*.foo.com"], routes: [direct("suf-long")] },
      { name: "exact", domains: ["foo.bar.com"], routes: [direct("exact")] },
    ],
  });
  const pick = (h: string, strip = false) => t.selectVirtualHost(h, strip)?.name;
  assert.equal(pick("foo.bar.com"), "exact");
  assert.equal(pick("a.foo.com"), "suf-long");
  assert.equal(pick("foo.bar.org"), "pre-long");
  assert.equal(pick("foo.org"), "pre");
  assert.equal(pick("x.com"), "suf");
  assert.equal(pick("other"), "star");
  assert.equal(pick("foo.bar.com:80"), "pre-long", "with the port the exact name does not match");
  assert.equal(pick("foo.bar.com:80", true), "exact");
  assert.equal(pick("[::1]:80", true), "star");
});

test("header mutation: route, then virtual host, then route configuration; removals before additions", () => {
  const t = new RouteTable({
    name: "r",
    request_headers_to_add: [{ header: { key: "x-order", value: "config" } }, { header: { key: "x-set", value: "config" }, append_action: "OVERWRITE_IF_EXISTS_OR_ADD" }],
    virtual_hosts: [
      {
        name: "v",
        domains: ["*"],
        request_headers_to_remove: ["x-set"],
        request_headers_to_add: [{ header: { key: "x-order", value: "vhost" } }, { header: { key: "x-absent", value: "vhost" }, append_action: "ADD_IF_ABSENT" }],
        routes: [{ match: { prefix: "/" }, route: { cluster: "c" }, request_headers_to_add: [{ header: { key: "x-order", value: "route" } }, { header: { key: "x-set", value: "route" }, append: false }] }],
      },
    ],
  });
  const vh = t.selectVirtualHost("h")!;
  const route = t.selectRoute(vh, { path: "/", query: "", header: () => undefined })!;
  const headers: Record<string, string> = { "x-order": "client", "x-absent": "client" };
  route.requestHeaders.apply(headers);
  vh.requestHeaders.apply(headers);
  t.requestHeaders.apply(headers);
  assert.equal(headers["x-order"], "client,route,vhost,config");
  assert.equal(headers["x-set"], "config");
  assert.equal(headers["x-absent"], "client");
});

test("literal prefixes of route regexes", () => {
  assert.equal(literalPrefix("/items/[0-9]+"), "/items/");
  assert.equal(literalPrefix("/ab*"), "/a");
  assert.equal(literalPrefix("/v1|/v2"), "");
  assert.equal(literalPrefix("(?i)/x"), "");
  assert.equal(literalPrefix("/exact"), "/exact");
});

test("inspection: TLS ClientHello SNI and ALPN, h2 preface, HTTP/1 request line, need-more", async () => {
  // Capture a real ClientHello from node:tls.
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const hello = await new Promise<Buffer>((resolve) => {
    server.once("connection", (s) => s.once("data", (d: Buffer) => { resolve(d); s.destroy(); }));
    const c = tls.connect({ host: "127.0.0.1", port: (server.address() as net.AddressInfo).port, servername: "api.example.com", ALPNProtocols: ["h2", "http/1.1"] });
    c.on("error", () => undefined);
  });
  server.close();
  assert.deepEqual(inspectBytes(hello), { transportProtocol: "tls", serverName: "api.example.com", applicationProtocols: ["h2", "http/1.1"], http2Preface: false });
  assert.equal(inspectBytes(hello.subarray(0, 20)), "more");
  const preface = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
  assert.deepEqual(inspectBytes(preface), { transportProtocol: "raw_buffer", serverName: undefined, applicationProtocols: ["h2c"], http2Preface: true });
  assert.equal(inspectBytes(preface.subarray(0, 10)), "more");
  assert.deepEqual((inspectBytes(Buffer.from("GET / HTTP/1.1\r\nhost: x\r\n")) as { applicationProtocols: string[] }).applicationProtocols, ["http/1.1"]);
  assert.deepEqual((inspectBytes(Buffer.from("\x00\x01\x02")) as { applicationProtocols: string[] }).applicationProtocols, []);
});

test("filter chain precedence: port before IP, longest prefix, SNI exact over wildcard, fallbacks", () => {
  const chain = (name: string, m: Record<string, unknown>) => ({ name, match: parseChainMatch(m, name) });
  const chains = [
    chain("any", {}),
    chain("port", { destination_port: 8080 }),
    chain("port-ip", { destination_port: 8080, prefix_ranges: [{ address_prefix: "10.0.0.0", prefix_len: 8 }] }),
    chain("port-ip-long", { destination_port: 8080, prefix_ranges: [{ address_prefix: "10.1.0.0", prefix_len: 16 }] }),
    chain("sni-wild", { destination_port: 443, server_names: ["*.example.com"] }),
    chain("sni-exact", { destination_port: 443, server_names: ["api.example.com"] }),
  ];
  const facts = { destinationAddress: "10.1.2.3", destinationPort: 8080, sourceAddress: "10.9.9.9", sourcePort: 5555, serverName: undefined, transportProtocol: "raw_buffer", applicationProtocols: [] };
  assert.equal(selectFilterChain(chains, facts)?.name, "port-ip-long");
  assert.equal(selectFilterChain(chains, { ...facts, destinationAddress: "10.2.0.1" })?.name, "port-ip");
  assert.equal(selectFilterChain(chains, { ...facts, destinationAddress: "192.168.0.1" })?.name, "port");
  assert.equal(selectFilterChain(chains, { ...facts, destinationPort: 9 })?.name, "any");
  assert.equal(selectFilterChain(chains, { ...facts, destinationPort: 443, serverName: "api.example.com" })?.name, "sni-exact");
  assert.equal(selectFilterChain(chains, { ...facts, destinationPort: 443, serverName: "www.example.com" })?.name, "sni-wild");
  // Port 443 chains all name servers: an unknown name matches none of them → no chain.
  assert.equal(selectFilterChain(chains, { ...facts, destinationPort: 443, serverName: "other.org" }), undefined);
});

test("response flags print in Envoy's spelling and order", () => {
  assert.equal(formatResponseFlags(0), "-");
  assert.equal(formatResponseFlags(ResponseFlag.URX | ResponseFlag.UF), "UF,URX");
  // Envoy lists flags in its enum order, not the order they were set.
  assert.equal(formatResponseFlags(ResponseFlag.URX | ResponseFlag.UT), "UT,URX");
  assert.equal(formatResponseFlags(ResponseFlag.DC | ResponseFlag.UC | ResponseFlag.UH), "UH,UC,DC");
  assert.equal(formatResponseFlags(ResponseFlag.FI), "FI");
});
