// Issue 6's Done-when 1, 2 and 4 in netns mode: `skiff up --netns` on samples/sentiment
// plus a legacy workload (a namespace without injection), as a real child process (root
// only), one mesh for the whole file.
//   1. On the wire (tcpdump on the mesh bridge): a request that crosses two sidecars
//      (gateway → sa-webapp → sa-logic) shows none of its plaintext, only TLS records,
//      while the legacy workload's request to sa-webapp is readable as it was sent.
//   2. PERMISSIVE (the default) answers the legacy workload; after `skiff apply` of the
//      demo's STRICT PeerAuthentication its request is reset (curl exit 56), mesh traffic
//      goes on, and the apps stay ready (their probes are not plaintext callers).
//   4. Under the demo's least-privilege policies the app works through the gateway;
//      a request sent from inside sa-logic's network namespace (so through sa-logic's
//      sidecar, with its identity) to sa-feedback gets 403 `RBAC: access denied`, which
//      it did not before the policies, while sa-webapp → sa-logic, an allowed pair, passes.
// Addresses 198.18.251.0/24 and tag `sksec`, this file's own (docs/netns-mode.md).
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { cleanupNetns, listNetns, namespaceName, netnsSupport } from "../../src/runtime/netns/index.ts";
import { startMesh } from "./helpers/mesh.ts";
import { call, eventually } from "./helpers/tutorial.ts";
import { LEGACY_MESH } from "./helpers/netns.ts";

const SAMPLES = fileURLToPath(new URL("../../samples/sentiment/", import.meta.url));
const ISTIO = join(SAMPLES, "istio");
const SECURITY = join(ISTIO, "security");
const TAG = "sksec";
const SUBNET = "198.18.251.0/24";
const BRIDGE = `${TAG}0`;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function exec(file: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<Run> {
  return new Promise((resolve) => {
    execFile(file, args, { env, timeout: 30_000, encoding: "utf8" }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === "number" ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

async function skipReason(): Promise<string | false> {
  const support = await netnsSupport();
  if (!support.ok) return `netns mode unavailable here (${support.reason}); run as root on Linux with iproute2, iptables and util-linux`;
  if ((await exec("tcpdump", ["--version"])).code !== 0) return "tcpdump is not installed (Debian package tcpdump)";
  return false;
}
const skip = await skipReason();

interface Curl {
  /** curl's exit code: 0, or e.g. 56 for a connection reset. */
  code: number;
  status: number;
  body: string;
  stderr: string;
}

/**
 * curl run inside a replica's network namespace as root, i.e. as that replica's app: a
 * sidecar namespace's capture sends it through its sidecar (with its identity); the
 * legacy namespace's goes out in the clear.
 */
async function curlIn(ns: string, url: string, json?: unknown): Promise<Curl> {
  const body = json === undefined ? [] : ["-H", "content-type: application/json", "--data-binary", JSON.stringify(json)];
  const r = await exec("ip", ["netns", "exec", ns, "curl", "-sS", "-m", "10", "-w", "\n%{http_code}", ...body, url]);
  const cut = r.stdout.lastIndexOf("\n");
  return { code: r.code, status: Number(r.stdout.slice(cut + 1)) || 0, body: r.stdout.slice(0, Math.max(cut, 0)), stderr: r.stderr };
}

/** One TCP segment of the capture with its payload. */
interface Segment {
  src: string;
  dst: string;
  srcPort: number;
  dstPort: number;
  /** A SYN without ACK: the client opening the connection. */
  opening: boolean;
  payload: Buffer;
}

/** The TCP segments of a pcap file (Ethernet, IPv4), as tcpdump -w writes it. */
function readPcap(file: string): Segment[] {
  const data = readFileSync(file);
  const magic = data.readUInt32LE(0);
  assert.ok(magic === 0xa1b2c3d4 || magic === 0xa1b23c4d, `${file} is not a little-endian pcap file`);
  assert.equal(data.readUInt32LE(20), 1, "link type Ethernet");
  const out: Segment[] = [];
  const ip = (b: Buffer, at: number): string => [...b.subarray(at, at + 4)].join(".");
  for (let at = 24; at + 16 <= data.length; ) {
    const captured = data.readUInt32LE(at + 8);
    const frame = data.subarray(at + 16, at + 16 + captured);
    at += 16 + captured;
    if (frame.length < 34 || frame.readUInt16BE(12) !== 0x0800) continue;
    const packet = frame.subarray(14);
    const ihl = (packet[0]! & 0x0f) * 4;
    if (packet[9] !== 6) continue;
    const tcp = packet.subarray(ihl, packet.readUInt16BE(2));
    const offset = (tcp[12]! >> 4) * 4;
    const flags = tcp[13]!;
    out.push({ src: ip(packet, 12), dst: ip(packet, 16), srcPort: tcp.readUInt16BE(0), dstPort: tcp.readUInt16BE(2), opening: (flags & 0x12) === 0x02, payload: tcp.subarray(offset) });
  }
  return out;
}

/** tcpdump on the mesh bridge, writing every frame of the mesh's subnet to `file`; bounded by count and time. */
async function startCapture(file: string): Promise<{ stop: () => Promise<number> }> {
  const child: ChildProcess = spawn("tcpdump", ["-i", BRIDGE, "-n", "--immediate-mode", "-U", "-s", "0", "-Z", "root", "-c", "20000", "-w", file, "tcp and net", SUBNET], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr?.on("data", (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const limit = setTimeout(() => child.kill("SIGKILL"), 60_000);
  for (let i = 0; i < 100 && !stderr.includes("listening on") && child.exitCode === null; i++) await new Promise((r) => setTimeout(r, 100));
  assert.match(stderr, /listening on sksec0/, `tcpdump did not start: ${stderr}`);
  return {
    stop: async () => {
      clearTimeout(limit);
      if (child.exitCode === null) child.kill("SIGINT");
      await exited;
      // Its closing summary: every packet it took is in the file (none lost on the way out).
      const captured = /(\d+) packets? captured/.exec(stderr);
      assert.ok(captured, `tcpdump said: ${stderr}`);
      return Number(captured[1]);
    },
  };
}

test("security in netns mode: mTLS on the wire (tcpdump), PERMISSIVE then STRICT for a legacy workload, least privilege between sidecars", { skip, timeout: 240_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "skiff-sec-netns-"));
  const legacyFile = join(dir, "legacy.yaml");
  writeFileSync(legacyFile, LEGACY_MESH);
  // A previous run of this file killed outright would have left these.
  await cleanupNetns(TAG);
  // Whatever failed: the mesh stops (or is swept), the network of this tag goes, then the temp directory.
  const mesh = await startMesh(t, {
    dir,
    files: [join(SAMPLES, "mesh.yaml"), legacyFile],
    args: ["--netns", "--no-trace-store", "--wait", "120"],
    env: { DATA_DIR: join(dir, "feedback"), SKIFF_NETNS_TAG: TAG, SKIFF_NETNS_SUBNET: SUBNET },
    readyTimeoutMs: 150_000,
    afterStop: () => cleanupNetns(TAG),
  });
  const { port } = mesh;
  const skiff = mesh.skiff;

  const routes = await skiff("apply", "-f", join(ISTIO, "http-gateway.yaml"), "-f", join(ISTIO, "vs-route-ingress.yaml"));
  assert.equal(routes.code, 0, routes.stderr);
  assert.equal((await eventually(() => call(port, "/"), (r) => r.status === 200)).status, 200);

  const status = await skiff("status", "-o", "json");
  assert.equal(status.code, 0, status.stderr);
  const replicas = (JSON.parse(status.stdout) as { replicas: { name: string; namespace: string; address?: string }[] }).replicas;
  const addressOf = (name: string): string => {
    const address = replicas.find((r) => r.name === name)?.address;
    assert.ok(address, `${name} has no address: ${status.stdout}`);
    return address;
  };
  const webapp = addressOf("sa-webapp-0");
  const logic = new Set([addressOf("sa-logic-0"), addressOf("sa-logic-1")]);
  const legacy = addressOf("legacy-client-0");
  const nsOf = (replica: string, namespace: string): string => namespaceName(TAG, `${replica}.${namespace}`);
  const legacyNs = nsOf("legacy-client-0", "legacy");
  const sentiment = (ns: string, sentence: string): Promise<Curl> => curlIn(ns, "http://sa-webapp.demo/sentiment", { sentence });

  await t.test("1. on the wire, sidecar to sidecar is TLS with none of the request in the clear; the legacy workload's request is readable", async (st) => {
    const pcap = join(dir, "bridge.pcap");
    const capture = await startCapture(pcap);
    const meshSecret = `mesh-secret-${randomUUID()}`;
    const legacySecret = `legacy-plain-${randomUUID()}`;
    let meshReply;
    let legacyReply;
    let captured = 0;
    try {
      // Gateway → sa-webapp's sidecar → sa-logic's sidecar; sa-logic echoes the sentence.
      meshReply = await call(port, "/sentiment", { sentence: `${meshSecret} is a lovely day` });
      legacyReply = await sentiment(legacyNs, `${legacySecret} is a lovely day`);
    } finally {
      captured = await capture.stop();
    }
    assert.equal(meshReply.status, 200, meshReply.body);
    assert.equal((JSON.parse(meshReply.body) as { sentence: string }).sentence, `${meshSecret} is a lovely day`, "the marker went all the way to sa-logic and back");
    assert.equal(legacyReply.code, 0, legacyReply.stderr);
    assert.equal(legacyReply.status, 200, legacyReply.body);
    assert.equal((JSON.parse(legacyReply.body) as { sentence: string }).sentence, `${legacySecret} is a lovely day`);

    const segments = readPcap(pcap);
    assert.equal(segments.length, captured, "the capture file holds every packet tcpdump took");
    const carrying = (marker: string): Segment[] => segments.filter((s) => s.payload.includes(marker));
    const flow = (a: string, b: (x: string) => boolean): Segment[] => segments.filter((s) => s.payload.length > 0 && ((s.src === a && b(s.dst)) || (b(s.src) && s.dst === a)));
    // The hop between the two sidecars crossed the bridge, as TLS: every connection opened
    // during the capture starts with a handshake record (0x16, version 3.x), and the
    // request went in application data records (0x17).
    const sidecarToSidecar = flow(webapp, (x) => logic.has(x));
    assert.ok(sidecarToSidecar.length > 0, `no sa-webapp → sa-logic traffic captured (${segments.length} segments)`);
    const opened = new Set(segments.filter((s) => s.opening && s.src === webapp && logic.has(s.dst)).map((s) => `${s.srcPort}>${s.dst}`));
    for (const conn of opened) {
      const first = sidecarToSidecar.find((s) => `${s.srcPort}>${s.dst}` === conn);
      assert.ok(first, `connection ${conn} carried nothing`);
      assert.deepEqual([first.payload[0], first.payload[1]], [0x16, 0x03], `sa-webapp → sa-logic connection ${conn} does not start with a TLS handshake`);
    }
    assert.ok(sidecarToSidecar.some((s) => s.payload[0] === 0x17 && s.payload[1] === 0x03), "TLS application data records carried the request");
    st.diagnostic(`${segments.length} TCP segments on ${BRIDGE}; ${sidecarToSidecar.length} with payload between sa-webapp and sa-logic, ${opened.size} connection(s) opened with a TLS handshake`);
    assert.deepEqual(carrying(meshSecret), [], "the mesh request's plaintext is nowhere on the bridge");
    assert.equal(sidecarToSidecar.some((s) => s.payload.includes("POST /analyse/sentiment")), false, "no plaintext HTTP between the sidecars");

    // The legacy workload sends in the clear: its request (and sa-webapp's answer) read as
    // sent, on its own hop only; sa-webapp's sidecar carried it on to sa-logic over TLS.
    const legacyHop = carrying(legacySecret);
    assert.ok(legacyHop.some((s) => s.src === legacy && s.dst === webapp && s.payload.toString("latin1").startsWith("POST /sentiment HTTP/1.1")), "the legacy request is readable on the wire");
    for (const s of legacyHop) assert.deepEqual(new Set([s.src, s.dst]), new Set([legacy, webapp]), `the legacy marker showed up between ${s.src} and ${s.dst}`);
  });

  let strictSince = 0;
  await t.test("2. PERMISSIVE answers the legacy workload; after STRICT its connection is reset (curl 56) and mesh traffic goes on", async () => {
    const permissive = await sentiment(legacyNs, "permissive is a fine mode");
    assert.equal(permissive.code, 0, permissive.stderr);
    assert.equal(permissive.status, 200, permissive.body);

    const strict = await skiff("apply", "-f", join(SECURITY, "peer-authentication.yaml"));
    assert.equal(strict.code, 0, strict.stderr);
    strictSince = Date.now();
    const refused = await eventually(() => sentiment(legacyNs, "strict is a fine mode"), (r) => r.code !== 0);
    assert.equal(refused.code, 56, `curl exit ${refused.code}: ${refused.stderr}`);
    assert.match(refused.stderr, /Connection reset by peer/);

    // Between sidecars, mTLS: through the gateway, and from sa-webapp's namespace to sa-logic.
    const viaGateway = await call(port, "/sentiment", { sentence: "still a lovely day" });
    assert.equal(viaGateway.status, 200, viaGateway.body);
    const inside = await curlIn(nsOf("sa-webapp-0", "demo"), "http://sa-logic/analyse/sentiment", { sentence: "still a lovely day" });
    assert.equal(inside.status, 200, `${inside.stderr}${inside.body}`);
  });

  await t.test("4. least privilege: the app works through the gateway; sa-logic → sa-feedback is refused by policy, sa-webapp → sa-logic passes", async () => {
    const logicNs = nsOf("sa-logic-0", "demo");
    const webappNs = nsOf("sa-webapp-0", "demo");
    // Before the policies the same call is answered: the later 403 is the policies' doing.
    const before = await curlIn(logicNs, "http://sa-feedback/feedback");
    assert.equal(before.status, 200, `${before.stderr}${before.body}`);

    const policies = await skiff("apply", "-f", join(SECURITY, "service-to-service.yaml"));
    assert.equal(policies.code, 0, policies.stderr);
    const denied = await eventually(() => curlIn(logicNs, "http://sa-feedback/feedback"), (r) => r.status === 403);
    assert.equal(denied.status, 403, `${denied.stderr}${denied.body}`);
    assert.equal(denied.body, "RBAC: access denied");
    // sa-feedback admits the gateway alone: sa-webapp's identity is refused too.
    const fromWebapp = await curlIn(webappNs, "http://sa-feedback/feedback");
    assert.equal(fromWebapp.status, 403, fromWebapp.body);
    // The one pair allowed between workloads.
    const allowed = await curlIn(webappNs, "http://sa-logic/analyse/sentiment", { sentence: "a wonderful day" });
    assert.equal(allowed.status, 200, `${allowed.stderr}${allowed.body}`);
    assert.ok((JSON.parse(allowed.body) as { polarity: number }).polarity > 0, allowed.body);

    // The app through the gateway: page, static file, sentiment (gateway → sa-webapp → sa-logic), feedback.
    assert.equal((await call(port, "/")).status, 200);
    assert.equal((await call(port, "/static/style.css")).status, 200);
    const analysed = await call(port, "/sentiment", { sentence: "I love this wonderful day" });
    assert.equal(analysed.status, 200, analysed.body);
    assert.ok((JSON.parse(analysed.body) as { polarity: number }).polarity > 0, analysed.body);
    const fed = await call(port, "/feedback", { sentence: "least privilege", polarity: 0.5, correct: true });
    assert.equal(fed.status, 201, fed.body);
    const listed = await call(port, "/feedback");
    assert.equal(listed.status, 200, listed.body);
    assert.ok((JSON.parse(listed.body) as { sentence: string }[]).some((f) => f.sentence === "least privilege"), listed.body);
  });

  await t.test("the apps stay ready under STRICT and the policies (their probes are not refused as plaintext callers)", async () => {
    // Three failed probes at the demo's 2 s period would mark a replica not ready.
    const settle = 8_000 - (Date.now() - strictSince);
    if (strictSince > 0 && settle > 0) await new Promise((r) => setTimeout(r, settle));
    const now = await skiff("status", "-o", "json");
    assert.equal(now.code, 0, now.stderr);
    const demo = (JSON.parse(now.stdout) as { replicas: { name: string; namespace: string; ready: boolean; readyCount: number; containers: number }[] }).replicas.filter((r) => r.namespace === "demo");
    assert.equal(demo.length, 5, now.stdout);
    for (const r of demo) assert.deepEqual([r.name, r.readyCount, r.containers, r.ready], [r.name, 2, 2, true]);
  });

  await t.test("stopping leaves no namespace, link, iptables chain or netns file of this tag", async () => {
    assert.equal(await mesh.stop(), 0, mesh.output());
    assert.deepEqual(await listNetns(TAG), { namespaces: [], links: [], iptablesChains: [], etcDirs: [] });
  });
});
