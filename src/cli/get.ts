// `lanemesh get KIND [NAME]` and `get all`: lists resources or proxies of a running control plane as a table, YAML or JSON; it only reads and prints.
import { type Command, InvalidArgumentError, Option } from "commander";
import { callServer } from "../control-plane/api-client.js";
import { connectOrFail, serverOption, tokenFileOption, tokenOption } from "./server-client.js";
import {
  type GetKind,
  normalizeKind,
  type Output,
  RESOURCE_KINDS,
  render,
  yamlDocs,
} from "./tables.js";

/** `-o table|wide|yaml|json`, shared by get and describe's neighbours. */
export function outputOption(choices: Output[] = ["table", "wide", "yaml", "json"]): Option {
  return new Option("-o, --output <FORMAT>", choices.join(", "))
    .choices(choices)
    .default(choices[0]);
}

export function register(program: Command): void {
  program
    .command("get")
    .description(
      "list resources (routes|lanegroups|lanes|instances), connected proxies, or all of them",
    )
    .argument("<kind>", "routes | lanegroups | lanes | instances | proxies | all", (v: string) => {
      if (v.toLowerCase() === "all") return "all";
      const k = normalizeKind(v);
      if (!k)
        throw new InvalidArgumentError(
          "expected routes, lanegroups, lanes, instances, proxies or all.",
        );
      return k;
    })
    .argument("[name]", "only this one")
    .addOption(outputOption())
    .addOption(serverOption())
    .addOption(tokenOption())
    .addOption(tokenFileOption())
    .action(
      async (
        kind: GetKind | "all",
        name: string | undefined,
        opts: { output: Output },
        cmd: Command,
      ) => {
        const c = connectOrFail(cmd);
        if (c === null) return;
        const { server, token } = c;
        if (kind === "all") {
          if (name !== undefined) {
            process.stderr.write("error: get all takes no name\n");
            process.exitCode = 1;
            return;
          }
          process.exitCode = await getAll(server, token, opts.output);
          return;
        }
        const base = kind === "proxies" ? "v1/proxies" : `v1/resources/${kind}`;
        const path = name === undefined ? base : `${base}/${encodeURIComponent(name)}`;
        const r = await callServer(server, "GET", path, undefined, { token });
        if (!r.ok) {
          process.stderr.write(`${r.message}\n`);
          process.exitCode = 1;
          return;
        }
        const items =
          name === undefined ? ((r.body as { items: unknown[] }).items ?? []) : [r.body];
        process.stdout.write(render(kind, items, opts.output, { single: name !== undefined }));
      },
    );
}

/**
 * Every resource kind, then the proxies, as kubectl's `get all`: one table per kind that has any,
 * named `kind.lanemesh.io/name`. YAML and JSON hold the resources only (what `apply` reads).
 */
async function getAll(server: string, token: string | undefined, output: Output): Promise<number> {
  const kinds: GetKind[] = [...RESOURCE_KINDS, "proxies"];
  const replies = await Promise.all(
    kinds.map((k) =>
      callServer(server, "GET", k === "proxies" ? "v1/proxies" : `v1/resources/${k}`, undefined, {
        token,
      }),
    ),
  );
  const failed = replies.find((r) => !r.ok);
  if (failed !== undefined && !failed.ok) {
    process.stderr.write(`${failed.message}\n`);
    return 1;
  }
  const lists = replies.map((r) => (r.ok ? ((r.body as { items?: unknown[] }).items ?? []) : []));
  const resources = lists.slice(0, RESOURCE_KINDS.length).flat();
  if (output === "json") process.stdout.write(`${JSON.stringify({ items: resources }, null, 2)}\n`);
  else if (output === "yaml") process.stdout.write(yamlDocs(resources));
  else {
    const tables = kinds
      .map((k, i) => ({ k, items: lists[i] ?? [] }))
      .filter((t) => t.items.length > 0)
      .map((t) => render(t.k, t.items, output, { refs: true }));
    process.stdout.write(tables.length === 0 ? "No resources found.\n" : tables.join("\n"));
  }
  return 0;
}
