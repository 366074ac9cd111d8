// Hashing shared by the router (hash policies) and the hash-based load balancers.
// Envoy hashes with xxHash64 (seed 0); we use the same function so that a given header or
// cookie value lands on the same ring position as it would in Envoy.
import xxhash from "xxhash-wasm";

// The wasm module is tiny and instantiates in well under a millisecond; doing it once at
// import keeps every later call synchronous on the hot path.
const api = await xxhash();

/** xxHash64 (seed 0) of a string's UTF-8 bytes, as an unsigned 64-bit bigint. */
export function hashKey(value: string): bigint {
  return api.h64(value);
}

/** xxHash64 (seed 0) of raw bytes. */
export function hashBytes(value: Uint8Array): bigint {
  return api.h64Raw(value);
}

/** xxHash64 with a seed (Maglev's permutation uses seeds 0 and 1). */
export function hashKeySeeded(value: string, seed: bigint): bigint {
  return api.h64(value, seed);
}

/**
 * Combine two hashes the way Envoy combines multiple hash policies:
 * rotate the running hash left by one bit and XOR the next one in.
 */
export function combineHashes(running: bigint, next: bigint): bigint {
  const rotated = ((running << 1n) | (running >> 63n)) & 0xffffffffffffffffn;
  return rotated ^ next;
}
