// `lanemesh apply -f FILE…`: sends resource files to the control plane as one batch and prints what changed; no validation of its own beyond YAML syntax.
import { readFileSync } from "node:fs";
import { type Command, Option } from "commander";
import { formatError, type RawDocument } from "../config/document.js";
import { parseDocuments } from "../config/load.js";
import { callServer } from "../control-plane/api-client.js";
import {
  addTokenOptions,
  apiToken,
  resourceRef,
  serverOption,
  type TokenFlags,
} from "./server-client.js";

interface ApplyReply {
  version: number;
  results: { kind: string; name: string; action: string }[];
  /** Empty documents the control plane left out. */
  ignored?: number;
}

export function register(program: Command): void {
  const cmd = program
    .command("apply")
    .description(
      "create or update resources on the control plane: all files form one batch, applied all or nothing (empty documents are ignored)",
    )
    .addOption(new Option("-f, --file <FILE...>", "resource files (YAML); - reads stdin"))
    .argument("[files...]", "more resource files")
    .addOption(serverOption());
  addTokenOptions(cmd).action(
    async (files: string[], opts: { file?: string[]; server: string } & TokenFlags) => {
      process.exitCode = await apply([...(opts.file ?? []), ...files], opts.server, opts);
    },
  );
}

/** Returns the exit code. */
export async function apply(
  paths: string[],
  server: string,
  flags: TokenFlags = {},
): Promise<number> {
  if (paths.length === 0) {
    process.stderr.write("error: no files given (lanemesh apply -f FILE…)\n");
    return 1;
  }
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
    // Empty documents (a file ending in `---`) are not resources: left out, as kubectl does.
    for (const d of parsed.docs) if (d.value !== null && d.value !== undefined) docs.push(d);
    for (const e of parsed.errors) errors.push(formatError(e));
  }
  if (errors.length > 0) {
    process.stderr.write(`${errors.join("\n")}\n`);
    return 1;
  }
  const token = apiToken(flags);
  if (!token.ok) {
    process.stderr.write(`${token.message}\n`);
    return 1;
  }
  const documents = docs.map((d) => ({ file: d.origin.file, doc: d.origin.doc, value: d.value }));
  const r = await callServer(server, "POST", "v1/resources", { documents }, { token: token.token });
  if (!r.ok) {
    process.stderr.write(`${r.message}\n`);
    return 1;
  }
  const body = r.body as ApplyReply;
  const lines = body.results.map((x) => `${resourceRef(x.kind, x.name)} ${x.action}`);
  process.stdout.write(lines.length > 0 ? `${lines.join("\n")}\n` : "no resources in the files\n");
  return 0;
}
