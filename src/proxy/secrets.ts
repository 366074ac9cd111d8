// The proxy's SDS secrets by name (`default`, `ROOTCA`, or any a TLS context names):
// what the SDS client receives, what upstream TLS and downstream TLS read. A generation
// number changes with every update so TLS contexts know when to rebuild without
// comparing PEM text on every connection.
import type { TlsSecret } from "./upstream/index.ts";

export interface SecretEntry {
  secret: TlsSecret;
  version: string;
  lastUpdated: Date;
}

export class SecretStore {
  private readonly entries = new Map<string, SecretEntry>();
  private readonly listeners: Array<(names: string[]) => void> = [];
  /** Bumped on every change; downstream TLS caches its SecureContext per generation. */
  generation = 0;

  get(name: string): TlsSecret | undefined {
    return this.entries.get(name)?.secret;
  }

  entry(name: string): SecretEntry | undefined {
    return this.entries.get(name);
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  /** Replace (or add) secrets; listeners hear the names that changed. */
  set(secrets: ReadonlyArray<{ name: string; secret: TlsSecret }>, version: string): void {
    const changed: string[] = [];
    for (const { name, secret } of secrets) {
      const old = this.entries.get(name)?.secret;
      if (old && old.certificateChain === secret.certificateChain && old.privateKey === secret.privateKey && old.trustedCa === secret.trustedCa) continue;
      this.entries.set(name, { secret, version, lastUpdated: new Date() });
      changed.push(name);
    }
    if (changed.length === 0) return;
    this.generation++;
    for (const fn of this.listeners) fn(changed);
  }

  onChange(fn: (names: string[]) => void): void {
    this.listeners.push(fn);
  }

  list(): Array<[string, SecretEntry]> {
    return [...this.entries.entries()].sort(([a], [b]) => (a < b ? -1 : 1));
  }
}
