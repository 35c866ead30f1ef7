// `lanemesh validate`: offline validation of resource files; it prints and sets the exit code, nothing else.
import { type Command, Option } from "commander";
import { formatError } from "../config/document.js";

/** Files from `-f` (repeatable, several per flag) and positional arguments, in order. */
export function register(program: Command): void {
  program
    .command("validate")
    .description(
      "validate resource files offline: exit 0 when valid, else exit 1 and list every error",
    )
    .addOption(
      new Option("-f, --file <FILE...>", "resource files (YAML, one or more documents each)"),
    )
    .argument("[files...]", "more resource files")
    .action(async (files: string[], opts: { file?: string[] }) => {
      const paths = [...(opts.file ?? []), ...files];
      if (paths.length === 0) {
        process.stderr.write("error: no files given (lanemesh validate -f FILE…)\n");
        process.exitCode = 1;
        return;
      }
      const { loadFiles } = await import("../config/load.js");
      const result = loadFiles(paths);
      if (!result.ok) {
        process.stderr.write(`${result.errors.map(formatError).join("\n")}\n`);
        process.exitCode = 1;
        return;
      }
      const { routes, groups, lanes } = result.rules;
      const n = routes.length + groups.length + lanes.length + result.instances.length;
      if (n === 0) {
        process.stderr.write(
          `error: nothing to validate: no resource documents in ${paths.join(", ")}\n`,
        );
        process.exitCode = 1;
        return;
      }
      process.stdout.write(`${n} resources valid\n`);
    });
}
