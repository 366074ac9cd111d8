// `skiff dns-proxy`: the agent's DNS proxy as a process, for netns mode, where it runs
// inside a replica's network namespace as the proxy user (port 53 traffic is captured
// to it). The service table comes from a file the runtime rewrites as the registry
// changes; see docs/netns-mode.md.
import { DnsProxy, DNS_PROXY_PORT, type DnsUpstream } from "../../agent/index.ts";
import { command, portOption, untilSignal, UsageError } from "../command.ts";

export const summary = "run the agent's DNS proxy (netns mode)";

const USAGE = `usage: skiff dns-proxy --namespace NS [--services-file FILE] [--host ADDR] [--port N] [--upstream ADDR[:PORT]]...

  --namespace      the workload's namespace (short names resolve in it)
  --services-file  JSON {"services": [{hostname, name, namespace, addresses}]}, re-read on change
  --host           address to listen on (default 127.0.0.1)
  --port           UDP and TCP port (default ${DNS_PROXY_PORT})
  --upstream       resolver for other names (default: nameservers of /etc/resolv.conf)
  --domain         the mesh's DNS domain (default cluster.local)`;

export const run = command(
  {
    name: "dns-proxy",
    usage: USAGE,
    options: {
      namespace: { type: "string" },
      "services-file": { type: "string" },
      host: { type: "string", default: "127.0.0.1" },
      port: { type: "string", default: String(DNS_PROXY_PORT) },
      upstream: { type: "string", multiple: true },
      domain: { type: "string", default: "cluster.local" },
    },
  },
  async ({ values }) => {
    if (!values.namespace) throw new UsageError("--namespace is required");
    const port = portOption(values.port, "--port");
    const upstreams = values.upstream?.map(upstreamOption);
    const proxy = await DnsProxy.start({ host: values.host, port, namespace: values.namespace, domain: values.domain, servicesFile: values["services-file"], upstreams });
    proxy.onTableError = (err) => console.error(`skiff dns-proxy: ${err.message} (keeping the last good table)`);
    console.log(`skiff dns-proxy: listening on ${values.host}:${proxy.port} (udp, tcp), ${proxy.names} mesh names`);
    await untilSignal();
    await proxy.close();
    return 0;
  },
);

/** `ADDR[:PORT]` of --upstream: an IPv4 resolver, port 53 unless given. */
function upstreamOption(text: string): DnsUpstream {
  const m = /^(\d{1,3}(?:\.\d{1,3}){3})(?::(\d{1,5}))?$/.exec(text);
  if (!m) throw new UsageError(`--upstream must be an IPv4 address with an optional port (127.0.0.1:5353), got "${text}"`);
  return { address: m[1]!, port: m[2] ? Number(m[2]) : 53 };
}
