// netns mode's plumbing, as a library `skiff up --netns` calls: the bridge and one
// network namespace per replica (network.ts), addresses and VIPs (addressing.ts), the
// proxy's uid (proxy-user.ts), and a check that this machine can do it at all.
// Traffic capture and the DNS proxy live in the agent room (they run per replica).
export { NetnsNetwork, cleanupNetns, listNetns, type NetnsOptions, type ReplicaNetwork, type ReplicaDns, type NetnsRecord, type NetnsLeftovers } from "./network.ts";
export { AddressPool, VipPool, parseSubnet, hostAddress, formatAddress, subnetsOverlap, AddressingError, DEFAULT_SUBNET, DEFAULT_SERVICE_SUBNET, type Subnet } from "./addressing.ts";
export { DEFAULT_TAG, bridgeName, namespaceName, hostVethName, forwardChainName, checkTag, NameError } from "./names.ts";
export { ensureProxyUser, lookupUser, PROXY_USER, type ProxyUser } from "./proxy-user.ts";
export { NetnsCommandError, type Runner } from "./exec.ts";
export { netnsSupport, type NetnsSupport } from "./support.ts";
