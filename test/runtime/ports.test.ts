import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:net";
import { PortAllocator } from "../../src/runtime/index.ts";

test("allocated ports are distinct and bindable on loopback", async () => {
  const ports = await new PortAllocator().allocateMany(8);
  assert.equal(new Set(ports).size, 8);
  for (const port of ports) {
    await new Promise<void>((resolve, reject) => {
      const s = createServer();
      s.once("error", reject);
      s.listen(port, "127.0.0.1", () => s.close(() => resolve()));
    });
  }
});

test("a port handed out is not handed out again until released, even if the kernel offers it", async () => {
  const offers = [4000, 4000, 4001, 4000, 4002];
  const alloc = new PortAllocator(async () => offers.shift() ?? 0);
  assert.equal(await alloc.allocate(), 4000);
  assert.equal(await alloc.allocate(), 4001);
  alloc.release(4000);
  assert.equal(await alloc.allocate(), 4000);
  assert.equal(await alloc.allocate(), 4002);
});

test("reserved ports are skipped; a probe that only repeats itself gives a clear error", async () => {
  const alloc = new PortAllocator(async () => 8080);
  alloc.reserve(8080);
  await assert.rejects(alloc.allocate(), /could not find a free port/);
});
