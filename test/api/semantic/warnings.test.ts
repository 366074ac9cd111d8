// Warnings are separate from errors: deprecated fields, and VirtualService hosts that no
// loaded Service or ServiceEntry provides.
import { test } from "node:test";
import assert from "node:assert/strict";
import { validateSemantics } from "../../../src/api/semantic/index.ts";
import type { AnyResource } from "../../../src/api/types.ts";

const res = (kind: string, name: string, namespace: string, spec: object): AnyResource =>
  ({ apiVersion: "x", kind, metadata: { name, namespace }, spec } as unknown as AnyResource);

const vs = res("VirtualService", "reviews", "bookinfo", {
  hosts: ["reviews"],
  http: [{ route: [{ destination: { host: "ratings" } }] }],
});

test("no unknown-host warnings when no Service or ServiceEntry was loaded", () => {
  assert.deepEqual(validateSemantics(vs, { all: [vs], domain: "cluster.local" }), []);
});

test("short names resolve in the VirtualService's namespace", () => {
  const reviews = res("Service", "reviews", "bookinfo", { ports: [{ port: 9080, name: "http" }] });
  const ratingsElsewhere = res("Service", "ratings", "other", { ports: [{ port: 9080, name: "http" }] });
  const ds = validateSemantics(vs, { all: [vs, reviews, ratingsElsewhere], domain: "cluster.local" });
  assert.deepEqual(ds.map((d) => [d.severity, d.path]), [["warning", "spec.http[0].route[0].destination.host"]]);
  assert.match(ds[0].message, /ratings\.bookinfo\.svc\.cluster\.local/);
});

test("the domain option forms the FQDN", () => {
  const reviews = res("Service", "reviews", "bookinfo", {});
  const ratings = res("Service", "ratings", "bookinfo", {});
  const fqdnVs = res("VirtualService", "r", "bookinfo", { hosts: ["reviews.bookinfo.svc.corp.internal"], http: [{ route: [{ destination: { host: "ratings" } }] }] });
  assert.deepEqual(validateSemantics(fqdnVs, { all: [fqdnVs, reviews, ratings], domain: "corp.internal" }), []);
  const other = validateSemantics(fqdnVs, { all: [fqdnVs, reviews, ratings], domain: "cluster.local" });
  assert.deepEqual(other.map((d) => d.path), ["spec.hosts[0]"]);
});

test("ServiceEntry hosts, including wildcards, count as known", () => {
  const se = res("ServiceEntry", "wiki", "default", { hosts: ["*.wikipedia.org"] });
  const ext = res("VirtualService", "wiki", "default", { hosts: ["en.wikipedia.org"], http: [{ route: [{ destination: { host: "en.wikipedia.org" } }] }] });
  assert.deepEqual(validateSemantics(ext, { all: [ext, se], domain: "cluster.local" }), []);
});

test("hosts of a gateway-only VirtualService are public names and are not checked", () => {
  const svc = res("Service", "productpage", "default", {});
  const gw = res("VirtualService", "bookinfo", "default", { hosts: ["bookinfo.example.com"], gateways: ["bookinfo-gateway"], http: [{ route: [{ destination: { host: "productpage" } }] }] });
  assert.deepEqual(validateSemantics(gw, { all: [gw, svc], domain: "cluster.local" }), []);
});

test("deprecated fields are warnings, not errors", () => {
  const old = res("VirtualService", "r", "default", {
    hosts: ["r"],
    http: [{ route: [{ destination: { host: "r" } }], mirror: { host: "r", subset: "v2" }, mirror_percent: 10, corsPolicy: { allowOrigin: ["*"] } }],
  });
  const dr = res("DestinationRule", "r", "default", { host: "r", trafficPolicy: { outlierDetection: { consecutiveErrors: 5 } } });
  const ds = [...validateSemantics(old, { all: [], domain: "cluster.local" }), ...validateSemantics(dr, { all: [], domain: "cluster.local" })];
  assert.deepEqual(ds.map((d) => [d.severity, d.path]), [
    ["warning", "spec.http[0].mirror_percent"],
    ["warning", "spec.http[0].corsPolicy.allowOrigin"],
    ["warning", "spec.trafficPolicy.outlierDetection.consecutiveErrors"],
  ]);
  assert.ok(ds.every((d) => d.fix));
});

test("a spec of the wrong shape never throws", () => {
  const kinds = ["Gateway", "VirtualService", "DestinationRule", "ServiceEntry", "Sidecar", "WorkloadEntry", "WorkloadGroup", "PeerAuthentication", "RequestAuthentication", "AuthorizationPolicy", "Telemetry", "Namespace", "Service", "Workload"];
  const shapes: unknown[] = [null, 42, "x", [], { hosts: 5, http: "x", servers: [null, 3], rules: [null, { from: 7, when: [1] }], jwtRules: [{ jwks: 5 }], ports: [{ port: "x" }] }];
  for (const kind of kinds) {
    for (const spec of shapes) {
      const r = { apiVersion: "x", kind, metadata: { name: "n" }, spec } as unknown as AnyResource;
      const ds = validateSemantics(r, { all: [r], domain: "cluster.local" });
      assert.ok(ds.every((d) => !d.message.startsWith("internal error")), `${kind} ${JSON.stringify(spec)}: ${ds.map((d) => d.message).join("; ")}`);
    }
  }
});

test("gateway references resolve like Istio's: name in the VirtualService's namespace, or namespace/name", () => {
  const gw = res("Gateway", "public", "istio-system", { servers: [] });
  const bound = (gateways: string[]): AnyResource => res("VirtualService", "r", "shop", { hosts: ["shop.example.com"], gateways, http: [{ route: [{ destination: { host: "web" } }] }] });
  const ok = bound(["istio-system/public", "mesh"]);
  assert.deepEqual(validateSemantics(ok, { all: [ok, gw], domain: "cluster.local" }), []);
  const wrongNs = bound(["public"]);
  const ds = validateSemantics(wrongNs, { all: [wrongNs, gw], domain: "cluster.local" });
  assert.deepEqual(ds.map((d) => [d.severity, d.path]), [["warning", "spec.gateways[0]"]]);
  assert.match(ds[0].message, /shop\/public/);
  // Without any Gateway loaded there is nothing to compare with, so nothing is said.
  assert.deepEqual(validateSemantics(wrongNs, { all: [wrongNs], domain: "cluster.local" }), []);
});

test("a subset no DestinationRule defines is a warning at the subset", () => {
  const dr = res("DestinationRule", "reviews", "bookinfo", { host: "reviews", subsets: [{ name: "v1" }, { name: "v2" }] });
  const route = res("VirtualService", "reviews", "bookinfo", {
    hosts: ["reviews"],
    http: [{ route: [{ destination: { host: "reviews", subset: "v1" }, weight: 50 }, { destination: { host: "reviews.bookinfo.svc.cluster.local", subset: "v3" }, weight: 50 }] }],
  });
  const ds = validateSemantics(route, { all: [route, dr], domain: "cluster.local" });
  assert.deepEqual(ds.map((d) => [d.severity, d.path]), [["warning", "spec.http[0].route[1].destination.subset"]]);
  assert.match(ds[0].message, /it defines v1, v2/);
});
