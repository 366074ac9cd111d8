// The pruned descriptor the envoy room caches must describe Envoy's types exactly as the
// .proto files do: every field's number, type, label, packing and presence, every enum
// value, for every type the entry files define or reach. Otherwise the codec would
// encode or print something different from Envoy.
import { test } from "node:test";
import assert from "node:assert/strict";
import protobuf from "protobufjs";
import { envoyRoot } from "../../src/envoy/index.ts";
import { parseEnvoyProtos } from "../../src/envoy/protos.ts";
import { prunedDescriptor } from "../../src/envoy/descriptor.ts";

const full = parseEnvoyProtos();
const pruned = protobuf.Root.fromJSON(prunedDescriptor(full) as protobuf.INamespace);

function definitions(root: protobuf.Namespace): (protobuf.Type | protobuf.Enum | protobuf.Service)[] {
  const out: (protobuf.Type | protobuf.Enum | protobuf.Service)[] = [];
  const walk = (ns: protobuf.Namespace): void => {
    for (const c of ns.nestedArray) {
      if (c instanceof protobuf.Type || c instanceof protobuf.Enum || c instanceof protobuf.Service) out.push(c);
      if (c instanceof protobuf.Namespace) walk(c);
    }
  };
  walk(root);
  return out;
}

const fieldShape = (f: protobuf.Field): unknown => ({
  id: f.id,
  type: f.resolvedType ? f.resolvedType.fullName : f.type,
  repeated: f.repeated,
  map: f.map,
  keyType: f instanceof protobuf.MapField ? f.keyType : undefined,
  packed: f.repeated ? f.packed : undefined,
  oneof: f.partOf?.name,
  presence: Boolean(f.hasPresence),
  jsonName: f.jsonName,
});

test("every type the .proto files define is in the pruned descriptor, but the annotation packages' unused ones", () => {
  const names = new Set(definitions(pruned).map((d) => d.fullName));
  const envoyTypes = definitions(full).filter((d) => d.fullName.startsWith(".envoy.") && !d.fullName.startsWith(".envoy.annotations."));
  assert.ok(envoyTypes.length > 300, `expected many Envoy types, got ${envoyTypes.length}`);
  for (const d of envoyTypes) assert.ok(names.has(d.fullName), `${d.fullName} (${d.filename}) missing`);
  assert.ok(names.has(".envoy.admin.v3.ClustersConfigDump"), "a type only an Any holds");
  for (const wkt of ["Any", "Duration", "Timestamp", "Struct", "Value", "ListValue", "FieldMask", "UInt32Value", "BoolValue", "Empty"]) assert.ok(names.has(`.google.protobuf.${wkt}`), wkt);
  // It is pruned: protoc-gen-validate's rules and descriptor.proto are not needed by any field.
  assert.equal(names.has(".validate.FieldRules"), false);
  assert.equal(names.has(".google.protobuf.FileDescriptorProto"), false);
});

test("every kept type has the same fields, oneofs and enum values as the parsed .proto files", () => {
  let types = 0;
  for (const d of definitions(pruned)) {
    const original = full.lookup(d.fullName);
    assert.ok(original, `${d.fullName} is not in the .proto files`);
    if (d instanceof protobuf.Type) {
      types++;
      assert.ok(original instanceof protobuf.Type);
      assert.deepEqual(Object.keys(d.fields).sort(), Object.keys(original.fields).sort(), d.fullName);
      for (const name of Object.keys(d.fields)) assert.deepEqual(fieldShape(d.fields[name]), fieldShape(original.fields[name]), `${d.fullName}.${name}`);
      assert.deepEqual(Object.keys(d.oneofs ?? {}).sort(), Object.keys(original.oneofs ?? {}).sort(), `${d.fullName} oneofs`);
    } else if (d instanceof protobuf.Enum) {
      assert.ok(original instanceof protobuf.Enum);
      assert.deepEqual({ ...d.values }, { ...original.values }, d.fullName);
    } else {
      assert.ok(original instanceof protobuf.Service);
      assert.deepEqual(
        d.methodsArray.map((m) => [m.name, m.resolvedRequestType?.fullName, m.resolvedResponseType?.fullName, Boolean(m.requestStream), Boolean(m.responseStream)]),
        original.methodsArray.map((m) => [m.name, m.resolvedRequestType?.fullName, m.resolvedResponseType?.fullName, Boolean(m.requestStream), Boolean(m.responseStream)]),
      );
    }
  }
  assert.ok(types > 100);
});

test("a message encodes to the same bytes with the pruned descriptor as with the .proto files", () => {
  const name = "envoy.config.cluster.v3.Cluster";
  const value = {
    name: "outbound|9080||reviews.default.svc.cluster.local",
    type: 3,
    connect_timeout: { seconds: 10 },
    lb_policy: 1,
    load_assignment: { cluster_name: "c", endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "10.0.0.1", port_value: 9080 } } } }] }] },
    metadata: { filter_metadata: { istio: { fields: { services: { list_value: { values: [{ string_value: "x" }] } } } } } },
  };
  const a = full.lookupType(name);
  const b = pruned.lookupType(name);
  assert.deepEqual(Buffer.from(b.encode(b.fromObject(value)).finish()), Buffer.from(a.encode(a.fromObject(value)).finish()));
  // And the Root the codec uses is the pruned one (from the cache file or freshly pruned).
  assert.equal(envoyRoot().lookup(".validate.FieldRules"), null);
});
