// Free ports for replicas, sidecars and the gateway. In process mode every process shares
// the host's loopback, so each gets its own ports. A port is found by binding port 0 on
// 127.0.0.1; ports handed out in this run are remembered so two allocations never
// collide even before their processes have bound them.
import { createServer } from "node:net";

export class PortAllocator {
  readonly #given = new Set<number>();
  readonly #probe: () => Promise<number>;

  /** `probe` finds one free port (injected by tests); the default asks the kernel. */
  constructor(probe: () => Promise<number> = kernelFreePort) {
    this.#probe = probe;
  }

  async allocate(): Promise<number> {
    // Bounded: the kernel hands out many distinct ports; a few repeats are plenty.
    for (let attempt = 0; attempt < 100; attempt++) {
      const port = await this.#probe();
      if (!this.#given.has(port)) {
        this.#given.add(port);
        return port;
      }
    }
    throw new Error("could not find a free port on 127.0.0.1 after 100 attempts");
  }

  async allocateMany(n: number): Promise<number[]> {
    const out: number[] = [];
    for (let i = 0; i < n; i++) out.push(await this.allocate());
    return out;
  }

  /** Gives a port back (its replica is gone); it may be handed out again later. */
  release(port: number): void {
    this.#given.delete(port);
  }

  /** Marks a port as taken (a fixed port the user asked for). */
  reserve(port: number): void {
    this.#given.add(port);
  }
}

export function kernelFreePort(host = "127.0.0.1"): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once("error", reject);
    server.listen(0, host, () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}
