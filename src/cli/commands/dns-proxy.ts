// `skiff dns-proxy`: the agent's DNS proxy as a process, for netns mode, where it runs
// inside a replica's network namespace as the proxy user (port 53 traffic is captured
// to it). The service table comes from a file the runtime rewrites as the registry
// changes; see docs/netns-mode.md.
import { parseArgs } from "node:util";
import { DnsProxy, DNS_PROXY_PORT, type DnsUpstream } from "../../agent/index.ts";

export const summary = "run the agent's DNS proxy (netns mode)";

const USAGE = `usage: skiff dns-proxy --namespace NS [--services-file FILE] [--host ADDR] [--port N] [--upstream ADDR[:PORT]]...

  --namespace      the workload's namespace (short names resolve in it)
  --services-file  JSON {"services": [{hostname, name, namespace, addresses}]}, re-read on change
  --host           address to listen on (default 127.0.0.1)
  --port           UDP and TCP port (default ${DNS_PROXY_PORT})
  --upstream       resolver for other names (default: nameservers of /etc/resolv.conf)
  --domain         the mesh's DNS domain (default cluster.local)`;

export async function run(args: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        namespace: { type: "string" },
        "services-file": { type: "string" },
        host: { type: "string", default: "127.0.0.1" },
        port: { type: "string", default: String(DNS_PROXY_PORT) },
        upstream: { type: "string", multiple: true },
        domain: { type: "string", default: "cluster.local" },
        help: { type: "boolean", short: "h" },
      },
    }));
  } catch (err) {
    console.error(`skiff dns-proxy: ${err instanceof Error ? err.message : String(err)}\n\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (!values.namespace) {
    console.error(`skiff dns-proxy: --namespace is required\n\n${USAGE}`);
    return 2;
  }
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`skiff dns-proxy: --port must be a port number (0-65535), got "${values.port}"`);
    return 2;
  }
  let upstreams: DnsUpstream[] | undefined;
  if (values.upstream) {
    upstreams = [];
    for (const u of values.upstream) {
      const m = /^(\d{1,3}(?:\.\d{1,3}){3})(?::(\d{1,5}))?$/.exec(u);
      if (!m) {
        console.error(`skiff dns-proxy: --upstream must be an IPv4 address with an optional port (127.0.0.1:5353), got "${u}"`);
        return 2;
      }
      upstreams.push({ address: m[1]!, port: m[2] ? Number(m[2]) : 53 });
    }
  }
  const proxy = await DnsProxy.start({ host: values.host, port, namespace: values.namespace, domain: values.domain, servicesFile: values["services-file"], upstreams });
  proxy.onTableError = (err) => console.error(`skiff dns-proxy: ${err.message} (keeping the last good table)`);
  console.log(`skiff dns-proxy: listening on ${values.host}:${proxy.port} (udp, tcp), ${proxy.names} mesh names`);
  await new Promise<void>((resolve) => {
    process.once("SIGTERM", resolve);
    process.once("SIGINT", resolve);
  });
  await proxy.close();
  return 0;
}
