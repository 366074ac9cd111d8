// Loads Envoy's real v3 proto definitions (shipped by @grpc/grpc-js-xds in its deps/
// folder) into one protobufjs Root. Only the files Skiff's translation and proxy use are
// loaded (their imports follow), once, lazily, on first use; the Root is cached for the
// life of the process. The first process to need it parses the .proto files and leaves a
// pruned JSON descriptor in node_modules/.cache/skiff/ (descriptor.ts explains why);
// every later process loads that instead, in a fraction of the time and memory.
import { createRequire } from "node:module";
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { createHash } from "node:crypto";
import path from "node:path";
import protobuf from "protobufjs";
import { packagePath } from "../package-root/index.ts";
import { prunedDescriptor } from "./descriptor.ts";

/** The entry files; everything they import is loaded too. */
export const ENVOY_PROTO_FILES: readonly string[] = [
  "envoy/service/discovery/v3/ads.proto",
  "envoy/config/listener/v3/listener.proto",
  "envoy/config/route/v3/route.proto",
  "envoy/config/cluster/v3/cluster.proto",
  "envoy/config/endpoint/v3/endpoint.proto",
  "envoy/extensions/transport_sockets/tls/v3/secret.proto",
  "envoy/extensions/transport_sockets/tls/v3/tls.proto",
  "envoy/extensions/transport_sockets/raw_buffer/v3/raw_buffer.proto",
  "envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto",
  "envoy/extensions/filters/network/tcp_proxy/v3/tcp_proxy.proto",
  "envoy/extensions/filters/network/rbac/v3/rbac.proto",
  "envoy/extensions/filters/http/router/v3/router.proto",
  "envoy/extensions/filters/http/rbac/v3/rbac.proto",
  "envoy/extensions/filters/http/jwt_authn/v3/config.proto",
  "envoy/extensions/filters/http/fault/v3/fault.proto",
  "envoy/extensions/filters/http/cors/v3/cors.proto",
  "envoy/extensions/filters/http/local_ratelimit/v3/local_rate_limit.proto",
  "envoy/extensions/filters/listener/original_dst/v3/original_dst.proto",
  "envoy/extensions/filters/listener/tls_inspector/v3/tls_inspector.proto",
  "envoy/extensions/filters/listener/http_inspector/v3/http_inspector.proto",
  "envoy/extensions/access_loggers/file/v3/file.proto",
  "envoy/extensions/access_loggers/stream/v3/stream.proto",
  "envoy/extensions/access_loggers/filters/cel/v3/cel.proto",
  "envoy/config/trace/v3/zipkin.proto",
  "envoy/config/trace/v3/opentelemetry.proto",
  "udpa/type/v1/typed_struct.proto",
  "envoy/extensions/upstreams/http/v3/http_protocol_options.proto",
  "envoy/extensions/retry/host/previous_hosts/v3/previous_hosts.proto",
  "envoy/admin/v3/config_dump.proto",
  "google/protobuf/timestamp.proto",
  "google/protobuf/field_mask.proto",
  "google/protobuf/empty.proto",
];

function includeDirs(): string[] {
  // Resolved from the package root, so sources and the bundle find the same copies.
  const require = createRequire(packagePath("package.json"));
  // build/src/index.js → package root
  const xdsRoot = path.resolve(path.dirname(require.resolve("@grpc/grpc-js-xds")), "..", "..");
  const protobufRoot = path.dirname(require.resolve("protobufjs"));
  const deps = ["envoy-api", "xds", "googleapis", "protoc-gen-validate"].map((d) => path.join(xdsRoot, "deps", d));
  return [...deps, protobufRoot];
}

let cached: protobuf.Root | undefined;

/** Bump when prunedDescriptor's output changes, so old cache files are not read. */
const DESCRIPTOR_FORMAT = 2;

/** The Root with Envoy's types (field names as in the .proto files: snake_case). */
export function envoyRoot(): protobuf.Root {
  if (cached) return cached;
  const file = descriptorCacheFile();
  if (process.env.SKIFF_NO_PROTO_CACHE !== "1" && existsSync(file)) {
    try {
      cached = protobuf.Root.fromJSON(JSON.parse(readFileSync(file, "utf8")) as protobuf.INamespace);
      return cached;
    } catch {
      // A damaged or foreign file: parse the .proto files and write it again.
    }
  }
  const parsed = parseEnvoyProtos();
  if (process.env.SKIFF_NO_PROTO_CACHE === "1") return (cached = parsed);
  const json = JSON.stringify(prunedDescriptor(parsed));
  try {
    mkdirSync(path.dirname(file), { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, json);
    renameSync(tmp, file); // atomic: a process starting now reads all of it or none
  } catch {
    // Read-only install: every process parses, which is only slower.
  }
  // Use the pruned Root here too, so the first process behaves exactly as the later ones.
  cached = protobuf.Root.fromJSON(JSON.parse(json) as protobuf.INamespace);
  return cached;
}

/** Parses the entry files and their imports from the .proto sources (slow; see descriptor.ts). */
export function parseEnvoyProtos(): protobuf.Root {
  const dirs = includeDirs();
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => {
    if (path.isAbsolute(target) && existsSync(target)) return target;
    for (const dir of dirs) {
      const candidate = path.join(dir, target);
      if (existsSync(candidate)) return candidate;
    }
    return target; // protobufjs' built-in google/protobuf/* definitions, or a clear ENOENT
  };
  root.loadSync([...ENVOY_PROTO_FILES], { keepCase: true });
  root.resolveAll();
  return root;
}

/** The cache file for these entry files and these versions of the protos and of protobufjs. */
function descriptorCacheFile(): string {
  const require = createRequire(packagePath("package.json"));
  const version = (pkg: string): string => {
    try {
      return (JSON.parse(readFileSync(require.resolve(`${pkg}/package.json`), "utf8")) as { version: string }).version;
    } catch {
      return "?";
    }
  };
  const key = JSON.stringify([DESCRIPTOR_FORMAT, ENVOY_PROTO_FILES, version("@grpc/grpc-js-xds"), version("protobufjs")]);
  return packagePath("node_modules", ".cache", "skiff", `envoy-protos-${createHash("sha256").update(key).digest("hex").slice(0, 16)}.json`);
}

const typeCache = new Map<string, protobuf.Type | undefined>();

/** Looks up a message type by full name (with or without a leading dot); cached, as every Any needs one. */
export function lookupMessageType(typeName: string): protobuf.Type | undefined {
  if (typeCache.has(typeName)) return typeCache.get(typeName);
  const name = typeName.startsWith(".") ? typeName : `.${typeName}`;
  let type: protobuf.Type | undefined;
  try {
    const found = envoyRoot().lookup(name);
    type = found instanceof protobuf.Type ? found : undefined;
  } catch {
    type = undefined;
  }
  typeCache.set(typeName, type);
  return type;
}
