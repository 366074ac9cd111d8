// `skiff apply -f PATH... [-n NAMESPACE]`: change the running mesh's config (the
// tutorial's `kubectl apply`). Shared with `skiff delete`: read the files the user named
// (files, directories, `-` for stdin) and send them to the running mesh's local API.
import { readFile, readdir, stat } from "node:fs/promises";
import { extname, join, resolve } from "node:path";
import { NoMeshError, callMesh, runDir, runningMesh, type ApplyOutcome, type Document } from "../../runtime/client.ts";
import { command, UsageError } from "../command.ts";

const CONFIG_EXTENSIONS = new Set([".yaml", ".yml", ".json"]);

async function readDocuments(path: string): Promise<Document[]> {
  if (path === "-") {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    return [{ file: "<stdin>", text: Buffer.concat(chunks).toString("utf8") }];
  }
  const full = resolve(path);
  let info;
  try {
    info = await stat(full);
  } catch {
    throw new Error(`${path}: no such file or directory`);
  }
  if (!info.isDirectory()) return [{ file: full, text: await readFile(full, "utf8") }];
  const out: Document[] = [];
  for (const entry of (await readdir(full, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    if (entry.name.startsWith(".")) continue;
    const child = join(full, entry.name);
    if (entry.isDirectory()) out.push(...(await readDocuments(child)));
    else if (CONFIG_EXTENSIONS.has(extname(entry.name))) out.push({ file: child, text: await readFile(child, "utf8") });
  }
  return out;
}

function usage(verb: "apply" | "delete"): string {
  return `usage: skiff ${verb} -f PATH [-f PATH...] [-n NAMESPACE]

  -f, --filename PATH    a file, a directory, or - for stdin; may be repeated
  -n, --namespace NS     namespace for objects that name none (default "default")

${verb === "apply" ? "Adds or updates the objects in the running mesh (all or nothing: invalid config is refused and\nthe mesh keeps its last good config). Workload objects start or restart their replicas." : "Removes objects that skiff apply added. Objects from the files given to skiff up are removed\nby editing those files (they are watched)."}`;
}

/** `skiff apply` or `skiff delete`: the same arguments, sent to the mesh's /apply or /delete. */
export function changeMeshConfig(verb: "apply" | "delete"): (args: string[]) => Promise<number> {
  return command(
    {
      name: verb,
      usage: usage(verb),
      options: { filename: { type: "string", short: "f", multiple: true }, namespace: { type: "string", short: "n" } },
      positionals: true,
    },
    async ({ values, positionals }) => {
      const paths = [...(values.filename ?? []), ...positionals];
      if (paths.length === 0) throw new UsageError("no file given (use -f PATH)");
      const dir = runDir();
      const state = runningMesh(dir);
      if (!state) {
        console.error(`skiff ${verb}: ${new NoMeshError(dir).message}`);
        return 1;
      }
      const documents: Document[] = [];
      try {
        for (const p of paths) documents.push(...(await readDocuments(p)));
      } catch (err) {
        console.error(`skiff ${verb}: ${(err as Error).message}`);
        return 1;
      }
      const { status, body } = await callMesh<ApplyOutcome & { error?: string }>(state.apiPort, "POST", `/${verb}`, { documents, namespace: values.namespace });
      if (body.error) {
        console.error(`skiff ${verb}: ${body.error}`);
        return 1;
      }
      for (const line of body.messages ?? []) console.error(line);
      if (status !== 200 || !body.applied) {
        console.error(`skiff ${verb}: refused; nothing was changed (the mesh keeps its current config)`);
        return 1;
      }
      const done = verb === "apply" ? "configured" : "deleted";
      for (const key of body.objects) console.log(`${key.replace(/\/\//, "/")} ${done}`);
      for (const line of body.notDeleted ?? []) console.error(`not deleted: ${line}`);
      return body.notDeleted?.length ? 1 : 0;
    },
  );
}

export const summary = "add or update config in the running mesh (skiff up)";

export const run = changeMeshConfig("apply");
