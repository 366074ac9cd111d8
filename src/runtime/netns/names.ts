// Names of what netns mode creates. Everything carries the mesh's tag (default
// "skiff") so teardown after a crash can find it all by prefix. Interface names are
// limited to 15 bytes by the kernel (IFNAMSIZ), so veth names use a short hash of the
// replica name instead of the name itself.
import { createHash } from "node:crypto";

export const DEFAULT_TAG = "skiff";

export class NameError extends Error {}

/** Checks a tag: short (room for the hash in link names), lowercase letters and digits. */
export function checkTag(tag: string): string {
  if (!/^[a-z][a-z0-9]{0,5}$/.test(tag)) {
    throw new NameError(`netns: tag must be 1-6 lowercase letters or digits starting with a letter (it prefixes namespaces and links), got ${JSON.stringify(tag)}`);
  }
  return tag;
}

export function bridgeName(tag: string): string {
  return `${tag}0`;
}

/** The network namespace of a replica: `skiff-sa-logic-v1-0`. */
export function namespaceName(tag: string, replica: string): string {
  if (!/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/.test(replica) || replica.length > 200) {
    throw new NameError(`netns: replica name ${JSON.stringify(replica)} is not a DNS label-like name (lowercase letters, digits, '-', '.')`);
  }
  return `${tag}-${replica}`;
}

/** Prefix of every namespace this tag creates. */
export function namespacePrefix(tag: string): string {
  return `${tag}-`;
}

/** Host end of a replica's veth: `skiffh` + 8 hex digits (≤ 15 bytes). */
export function hostVethName(tag: string, replica: string): string {
  return `${hostVethPrefix(tag)}${shortHash(replica)}`;
}

export function hostVethPrefix(tag: string): string {
  return `${tag}h`;
}

/** The namespace end, named uniquely while it is created, then renamed eth0 inside. */
export function peerVethName(tag: string, replica: string): string {
  return `${tag}p${shortHash(replica)}`;
}

/** The host iptables chain that keeps replica traffic from being forwarded off the host. */
export function forwardChainName(tag: string): string {
  return `${tag.toUpperCase()}-FORWARD`;
}

function shortHash(s: string): string {
  return createHash("sha256").update(s).digest("hex").slice(0, 8);
}
