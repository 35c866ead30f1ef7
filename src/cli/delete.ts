// `lanemesh delete KIND NAME` and `delete -f FILE…`: removes resources from the control plane, which refuses a removal that would leave the rest invalid; prints the outcome only.
import { type Command, Option } from "commander";
import { callServer } from "../control-plane/api-client.js";
import { readDocuments } from "./apply.js";
import { connectOrFail, serverOption, tokenFileOption, tokenOption } from "./server-client.js";
import { KIND_OF, normalizeKind, pluralOfKind, type ResourceKind, ref } from "./tables.js";

/** Deletion order: what refers to others first (lanes → groups → routes), instances last. */
const ORDER: readonly ResourceKind[] = ["lanes", "lanegroups", "routes", "instances"];

export function register(program: Command): void {
  program
    .command("delete")
    .description(
      "delete resources from the control plane: one by kind and name, or every resource named in files (-f)",
    )
    .argument("[kind]", "routes | lanegroups | lanes | instances (singular works too)")
    .argument("[name]", "metadata.name of the resource")
    .addOption(
      new Option("-f, --file <FILE...>", "delete the resources these files name (kind and name)"),
    )
    .option("--ignore-not-found", "a resource that does not exist is not an error")
    .addOption(serverOption())
    .addOption(tokenOption())
    .addOption(tokenFileOption())
    .action(
      async (
        kind: string | undefined,
        name: string | undefined,
        opts: { file?: string[]; ignoreNotFound?: boolean },
        cmd: Command,
      ) => {
        const c = connectOrFail(cmd);
        if (c === null) return;
        const targets = resolveTargets(kind, name, opts.file);
        if ("error" in targets) {
          process.stderr.write(`${targets.error}\n`);
          process.exitCode = 1;
          return;
        }
        let code = 0;
        for (const t of targets.list) {
          const r = await callServer(
            c.server,
            "DELETE",
            `v1/resources/${t.plural}/${encodeURIComponent(t.name)}`,
            undefined,
            { token: c.token },
          );
          const what = ref(KIND_OF[t.plural], t.name);
          if (r.ok) process.stdout.write(`${what} deleted\n`);
          else if (r.status === 404 && opts.ignoreNotFound) continue;
          else {
            if (r.status === 422)
              process.stderr.write(`error: deleting ${what} would leave the config invalid:\n`);
            process.stderr.write(`${r.message}\n`);
            code = 1;
            // A server that cannot be reached will not answer the next one either.
            if (r.status === null) break;
          }
        }
        process.exitCode = code;
      },
    );
}

type Target = { plural: ResourceKind; name: string };

/** KIND NAME, or every document of the files in deletion order; never both. */
function resolveTargets(
  kind: string | undefined,
  name: string | undefined,
  files: string[] | undefined,
): { list: Target[] } | { error: string } {
  if (files !== undefined) {
    if (kind !== undefined) return { error: "error: give either -f FILE… or KIND NAME, not both" };
    const read = readDocuments(files, "delete");
    if (!read.ok) return { error: read.lines.join("\n") };
    const list: Target[] = [];
    for (const d of read.docs) {
      const v = d.value as { kind?: unknown; metadata?: { name?: unknown } } | null;
      const plural = pluralOfKind(v?.kind);
      const n = v?.metadata?.name;
      if (plural === null || typeof n !== "string")
        return {
          error: `${d.origin.file}: document ${d.origin.doc + 1}: needs a kind (Route, LaneGroup, Lane, Instance) and metadata.name to be deleted`,
        };
      if (!list.some((t) => t.plural === plural && t.name === n)) list.push({ plural, name: n });
    }
    list.sort((a, b) => ORDER.indexOf(a.plural) - ORDER.indexOf(b.plural));
    return { list };
  }
  if (kind === undefined || name === undefined)
    return { error: "error: delete needs KIND NAME (lanemesh delete lane gray) or -f FILE…" };
  const plural = normalizeKind(kind);
  if (plural === null || plural === "proxies")
    return {
      error: `error: cannot delete "${kind}": expected routes, lanegroups, lanes or instances`,
    };
  return { list: [{ plural, name }] };
}
