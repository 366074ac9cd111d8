// The capture rules as text: what iptables-save will show an Istio user. Pure, runs
// everywhere (the netns test applies the same rules for real when root).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { captureRules, captureRemovalRules, CaptureOptionsError, needsRouteLocalnet } from "../../src/agent/capture.ts";
import { serviceRules } from "../../src/agent/capture-services.ts";

const golden = new URL("./netns-capture.golden", import.meta.url);

test("default capture rules match the golden file (Istio's chains, uid/gid 1337 exempt, admin ports excluded, DNS to 15053)", async () => {
  const text = captureRules({ proxyUid: 1337 });
  if (process.env.UPDATE_GOLDEN) await writeFile(golden, text);
  assert.equal(text, await readFile(golden, "utf8"));
});

test("options change exactly the rules they name", () => {
  const text = captureRules({ proxyUid: 999, proxyGid: 995, inboundPort: 16006, outboundPort: 16001, dnsPort: false, excludeInboundPorts: [9901], excludeOutboundCidrs: ["198.18.0.1"] });
  assert.match(text, /-A ISTIO_IN_REDIRECT -p tcp -j REDIRECT --to-ports 16006\n/);
  assert.match(text, /-A ISTIO_REDIRECT -p tcp -j REDIRECT --to-ports 16001\n/);
  assert.match(text, /-A ISTIO_INBOUND -p tcp --dport 9901 -j RETURN\n/);
  assert.match(text, /-A ISTIO_INBOUND -p tcp --dport 15021 -j RETURN\n/, "the defaults stay excluded");
  assert.match(text, /-A ISTIO_OUTPUT -d 198\.18\.0\.1\/32 -j RETURN\n-A ISTIO_OUTPUT -j ISTIO_REDIRECT\n/, "exclusions come before the catch-all");
  assert.match(text, /--uid-owner 999 -j RETURN/);
  assert.match(text, /--gid-owner 995 -j RETURN/);
  assert.doesNotMatch(text, /--dport 53/, "dnsPort false leaves DNS alone");
  assert.doesNotMatch(text, /1337/);
});

test("an excluded inbound source (the runtime's probe address) reaches the app before the catch-all redirect; none by default", () => {
  const lines = captureRules({ proxyUid: 1337, excludeInboundSources: ["198.18.0.254"] }).split("\n");
  const exempt = lines.indexOf("-A ISTIO_INBOUND -s 198.18.0.254/32 -p tcp -j RETURN");
  assert.ok(exempt > 0 && exempt < lines.indexOf("-A ISTIO_INBOUND -p tcp -j ISTIO_IN_REDIRECT"), lines.join("\n"));
  assert.doesNotMatch(captureRules({ proxyUid: 1337 }), /ISTIO_INBOUND -s /);
  assert.throws(() => captureRules({ proxyUid: 1337, excludeInboundSources: ["probe"] }), /excludeInboundSources\[0\] must be an IPv4 address or CIDR/);
});

test("a probe source is sent to the app on 127.0.0.1 (DNAT) before the catch-all redirect, with the raw table fencing off other loopback-bound packets; none by default", () => {
  const text = captureRules({ proxyUid: 1337, appProbeSources: ["198.18.0.254"] });
  const lines = text.split("\n");
  const dnat = lines.indexOf("-A ISTIO_INBOUND -s 198.18.0.254/32 -p tcp -j DNAT --to-destination 127.0.0.1");
  assert.ok(dnat > 0 && dnat < lines.indexOf("-A ISTIO_INBOUND -p tcp -j ISTIO_IN_REDIRECT"), text);
  // The drop is in the raw table, which sees the probe still addressed to the pod (before the DNAT).
  const raw = lines.indexOf("*raw");
  assert.ok(raw > dnat && lines.indexOf("-A PREROUTING ! -i lo -d 127.0.0.0/8 -j DROP") > raw, text);
  assert.equal(needsRouteLocalnet({ proxyUid: 1337, appProbeSources: ["198.18.0.254"] }), true);
  assert.equal(needsRouteLocalnet({ proxyUid: 1337 }), false);
  assert.doesNotMatch(captureRules({ proxyUid: 1337 }), /DNAT|\*raw/);
  assert.throws(() => captureRules({ proxyUid: 1337, appProbeSources: ["198.18.0.256"] }), /appProbeSources\[0\] must be an IPv4 address or CIDR/);
});

test("the proxy's exemption precedes the catch-all redirect (else the proxy would capture itself)", () => {
  const lines = captureRules({ proxyUid: 1337 }).split("\n");
  const exempt = lines.indexOf("-A ISTIO_OUTPUT -m owner --uid-owner 1337 -j RETURN");
  const redirect = lines.indexOf("-A ISTIO_OUTPUT -j ISTIO_REDIRECT");
  assert.ok(exempt > 0 && redirect > exempt);
  const dnsExempt = lines.indexOf("-A OUTPUT -p udp --dport 53 -m owner --uid-owner 1337 -j RETURN");
  const dnsRedirect = lines.indexOf("-A OUTPUT -p udp --dport 53 -j REDIRECT --to-ports 15053");
  assert.ok(dnsExempt > 0 && dnsRedirect > dnsExempt);
});

test("bad options are refused with the field and the fix", () => {
  assert.throws(() => captureRules({ proxyUid: 0 }), (e: unknown) => e instanceof CaptureOptionsError && /proxyUid 0 \(root\).*own uid/.test(e.message));
  assert.throws(() => captureRules({ proxyUid: -1 }), /proxyUid must be a uid/);
  assert.throws(() => captureRules({ proxyUid: 1337, inboundPort: 70000 }), /inboundPort must be a port \(1-65535\), got 70000/);
  assert.throws(() => captureRules({ proxyUid: 1337, excludeInboundPorts: [15000, 0] }), /excludeInboundPorts\[1\] must be a port/);
  assert.throws(() => captureRules({ proxyUid: 1337, excludeOutboundCidrs: ["10.0.0.0/33"] }), /excludeOutboundCidrs\[0\] must be an IPv4 address or CIDR/);
});

test("removal restores an empty nat table", () => {
  const text = captureRemovalRules();
  assert.match(text, /^\*nat\n/);
  assert.match(text, /COMMIT\n$/);
  assert.doesNotMatch(text, /ISTIO|-A /);
});

test("service VIP rules for sidecar-less workloads: equal-weight DNAT per endpoint, a reset for no endpoints", () => {
  const text = serviceRules([
    { hostname: "web.demo.svc.cluster.local", vip: "198.18.1.3", port: 80, endpoints: [{ address: "198.18.0.4", port: 8080 }, { address: "198.18.0.2", port: 8080 }, { address: "198.18.0.3", port: 8080 }] },
    { hostname: "empty.demo.svc.cluster.local", vip: "198.18.1.9", port: 80, endpoints: [] },
  ]);
  const chain = text.split("\n").filter((l) => l.startsWith("-A SKIFF_SVC_0 "));
  assert.deepEqual(chain, [
    "-A SKIFF_SVC_0 -p tcp -m statistic --mode random --probability 0.33333 -j DNAT --to-destination 198.18.0.2:8080",
    "-A SKIFF_SVC_0 -p tcp -m statistic --mode random --probability 0.50000 -j DNAT --to-destination 198.18.0.3:8080",
    "-A SKIFF_SVC_0 -p tcp -j DNAT --to-destination 198.18.0.4:8080",
  ]);
  assert.match(text, /-A SKIFF_SERVICES -d 198\.18\.1\.3\/32 -p tcp --dport 80 -m comment --comment "web\.demo\.svc\.cluster\.local:80" -j SKIFF_SVC_0\n/);
  assert.match(text, /\*filter\n[^*]*-A OUTPUT -d 198\.18\.1\.9\/32 -p tcp --dport 80 .*-j REJECT --reject-with tcp-reset\nCOMMIT\n$/);
  assert.doesNotMatch(text.split("*filter")[0]!, /198\.18\.1\.9/, "no nat rule for a service without endpoints");
});
