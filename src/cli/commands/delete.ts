// `skiff delete -f PATH... [-n NAMESPACE]`: remove config `skiff apply` added to the
// running mesh (the tutorial's `kubectl delete`).
import { changeMeshConfig } from "./apply.ts";

export const summary = "remove config from the running mesh (skiff up)";

export const run = changeMeshConfig("delete");
