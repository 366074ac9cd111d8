// The config room's public face: the store, its sources, and the contract types.
export type { ChangeType, ConfigChange, ConfigStore, ConfigSource } from "./types.ts";
export { MemoryStore, compareResources, keyOf } from "./store.ts";
export { FileSource, type FileSourceOptions } from "./file-source.ts";
export { MemorySource, type MemorySourceOptions, type ApplyResult } from "./memory-source.ts";
export { ownerOf } from "./ownership.ts";
