// The api room's public face: loading config text into resources, validating them,
// and rendering what is wrong. Other rooms import only this file.
export type * from "./types.ts";
export type * from "./kinds.ts";
export { resourceKey } from "./types.ts";
export { loadText, type LoadResult } from "./load.ts";
export { loadPaths, type LoadPathsOptions } from "./files.ts";
export { validateResources, type ValidateOptions } from "./validate.ts";
export { validateSchema } from "./schema.ts";
export { formatDiagnostic, diagnosticToJson, locateDiagnostic, sortDiagnostics } from "./format.ts";
export { childPath, joinPath, splitPath, pathAndAncestors, type PathSegment } from "./paths.ts";
export { KINDS, kindInfo, lookupKind, acceptedApiVersions, internalApiVersion, supportedKindNames, closestName, type KindInfo } from "./kinds-table.ts";
