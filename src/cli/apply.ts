// `lanemesh apply -f FILE…`: sends resource files to the control plane as one batch and prints what changed; no validation of its own beyond YAML syntax.
import { readFileSync } from "node:fs";
import { type Command, Option } from "commander";
import { formatError, type RawDocument } from "../config/document.js";
import { parseDocuments } from "../config/load.js";
import { callServer } from "../control-plane/api-client.js";
import { connectOrFail, serverOption, tokenFileOption, tokenOption } from "./server-client.js";
import { ref } from "./tables.js";

interface ApplyReply {
  version: number;
  results: { kind: string; name: string; action: string }[];
}

export function register(program: Command): void {
  program
    .command("apply")
    .description(
      "create or update resources on the control plane: all files form one batch, applied all or nothing",
    )
    .addOption(new Option("-f, --file <FILE...>", "resource files (YAML); - reads stdin"))
    .argument("[files...]", "more resource files")
    .addOption(serverOption())
    .addOption(tokenOption())
    .addOption(tokenFileOption())
    .action(async (files: string[], opts: { file?: string[] }, cmd: Command) => {
      const c = connectOrFail(cmd);
      if (c === null) return;
      process.exitCode = await apply([...(opts.file ?? []), ...files], c.server, c.token);
    });
}

export type ReadDocuments = { ok: true; docs: RawDocument[] } | { ok: false; lines: string[] };

/**
 * The YAML documents of `paths` (`-` = stdin), as `apply` and `delete -f` send them: read and
 * syntax errors in the one error format, and an error when the files hold no document at all.
 */
export function readDocuments(paths: readonly string[], verb: string): ReadDocuments {
  if (paths.length === 0)
    return { ok: false, lines: [`error: no files given (lanemesh ${verb} -f FILE…)`] };
  const docs: RawDocument[] = [];
  const errors: string[] = [];
  for (const path of paths) {
    const file = path === "-" ? "<stdin>" : path;
    let text: string;
    try {
      text = readFileSync(path === "-" ? 0 : path, "utf8");
    } catch (err) {
      errors.push(`${file}: cannot read: ${(err as Error).message}`);
      continue;
    }
    const parsed = parseDocuments(text, file);
    docs.push(...parsed.docs.filter((d) => d.value !== null && d.value !== undefined));
    errors.push(...parsed.errors.map(formatError));
  }
  if (errors.length > 0) return { ok: false, lines: errors };
  if (docs.length === 0)
    return {
      ok: false,
      lines: [`error: nothing to ${verb}: no resource documents in ${paths.join(", ")}`],
    };
  return { ok: true, docs };
}

/** Returns the exit code. */
export async function apply(
  paths: string[],
  server: string,
  token?: string | undefined,
): Promise<number> {
  const read = readDocuments(paths, "apply");
  if (!read.ok) {
    process.stderr.write(`${read.lines.join("\n")}\n`);
    return 1;
  }
  const documents = read.docs.map((d) => ({
    file: d.origin.file,
    doc: d.origin.doc,
    value: d.value,
  }));
  const r = await callServer(server, "POST", "v1/resources", { documents }, { token });
  if (!r.ok) {
    process.stderr.write(`${r.message}\n`);
    return 1;
  }
  const body = r.body as ApplyReply;
  process.stdout.write(body.results.map((x) => `${ref(x.kind, x.name)} ${x.action}\n`).join(""));
  return 0;
}
