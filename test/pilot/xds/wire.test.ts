// The hand-written DiscoveryResponse encoding is the protobuf encoding: byte for byte
// what protobufjs produces from Envoy's proto, empty fields left out as proto3 does.
import { test } from "node:test";
import assert from "node:assert/strict";
import { serializeResponse } from "../../../src/pilot/xds/grpc-service.ts";
import { TypeUrl, encodeAny, protoRoot } from "../../../src/envoy/index.ts";

test("a DiscoveryResponse written from shared Any bytes equals protobufjs's encoding and decodes back", () => {
  const type = protoRoot().lookupType("envoy.service.discovery.v3.DiscoveryResponse");
  const cluster = encodeAny({ "@type": TypeUrl.cluster, name: "outbound|9080||reviews.default.svc.cluster.local", type: "EDS", connect_timeout: "10s" });
  const big = { type_url: TypeUrl.endpoint, value: Buffer.alloc(70_000, 1) };
  const empty = { type_url: TypeUrl.cluster, value: Buffer.alloc(0) };
  for (const response of [
    { version_info: "0123456789ab", type_url: TypeUrl.cluster, nonce: "42", resources: [cluster, big, empty] },
    { version_info: "", type_url: TypeUrl.listener, nonce: "1", resources: [] },
  ]) {
    const mine = serializeResponse(response);
    const reference = Buffer.from(type.encode({ ...response, control_plane: { identifier: "skiff" } }).finish());
    assert.ok(mine.equals(reference), `${response.type_url}: ${mine.length} vs ${reference.length} bytes`);
    const decoded = type.decode(mine) as unknown as { nonce: string; resources: { value: Uint8Array }[] };
    assert.equal(decoded.nonce, response.nonce);
    assert.deepEqual(decoded.resources.map((r) => r.value.length), response.resources.map((r) => r.value.length));
  }
});
