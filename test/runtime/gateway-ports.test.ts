import { test } from "node:test";
import assert from "node:assert/strict";
import { hostPortFor, mapGatewayPorts } from "../../src/runtime/index.ts";
import type { ProxyNode, TranslationResult } from "../../src/pilot/translate/index.ts";

function node(type: ProxyNode["type"], metadata: Record<string, unknown>): ProxyNode {
  return { id: `${type}~127.0.0.1~gw.istio-system~istio-system.svc.cluster.local`, type, ipAddresses: ["127.0.0.1"], podName: "gw.istio-system", namespace: "istio-system", labels: {}, serviceAccount: "default", workloadName: "gw", metadata };
}

function result(...ports: [string, number][]): TranslationResult {
  return {
    resources: { listeners: ports.map(([address, port]) => ({ name: `${address}_${port}`, address: { socket_address: { address, port_value: port } } })), routes: [], clusters: [], endpoints: [], secrets: [] },
    problems: [],
  };
}

const addresses = (r: TranslationResult): string[] => r.resources.listeners.map((l) => String(l.name));

test("port 80 goes to the HTTP port, other privileged ports up by 8000, others stay", () => {
  assert.equal(hostPortFor(80, 8080), 8080);
  assert.equal(hostPortFor(80, 9000), 9000);
  assert.equal(hostPortFor(443, 8080), 8443);
  assert.equal(hostPortFor(15443, 8080), 15443);
});

test("the local gateway's listeners bind loopback on host ports; an explicit bind is kept", () => {
  const out = mapGatewayPorts(result(["0.0.0.0", 80], ["0.0.0.0", 443], ["10.1.1.1", 9000]), node("router", { SKIFF_GATEWAY_HTTP_PORT: "18080" }));
  assert.deepEqual(addresses(out), ["10.1.1.1_9000", "127.0.0.1_18080", "127.0.0.1_8443"]);
});

test("without a Gateway on port 80, the HTTP port still answers (404 for every request)", () => {
  const out = mapGatewayPorts(result(), node("router", { SKIFF_GATEWAY_HTTP_PORT: "8080" }));
  assert.deepEqual(addresses(out), ["127.0.0.1_8080"]);
  const hcm = (out.resources.listeners[0].filter_chains as { filters: { typed_config: { route_config: { virtual_hosts: unknown[] } } }[] }[])[0].filters[0];
  assert.deepEqual(hcm.typed_config.route_config.virtual_hosts, []);
});

test("sidecars and other gateways are left alone", () => {
  const input = result(["0.0.0.0", 80]);
  assert.equal(mapGatewayPorts(input, node("sidecar", { SKIFF_GATEWAY_HTTP_PORT: "8080" })), input);
  assert.equal(mapGatewayPorts(input, node("router", {})), input);
});
