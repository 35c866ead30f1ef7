// The `lanemesh` command tree: one register() per command module on one commander program, each module imported only when its command is wanted, and the parse rules they share; it parses nothing and starts nothing.
import { Command, type Option } from "commander";
import { CLIENT_VERSION } from "./client-version.js";

/** What every command module exports. */
interface CommandModule {
  register(program: Command): void;
}

/**
 * Every command, in the order help lists them, with the module that registers it. A module is
 * imported only when the tree needs it: a command's imports (the control plane's server and API
 * client, gRPC, YAML printing…) would otherwise sit in the memory of every process, the
 * sidecar's included (bench/README.md, "Memory, round two").
 */
const COMMANDS: readonly (readonly [string, () => Promise<CommandModule>])[] = [
  ["sidecar", () => import("./sidecar.js")],
  ["gateway", () => import("./gateway.js")],
  ["validate", () => import("./validate.js")],
  ["explain", () => import("./explain.js")],
  ["demo-app", () => import("./demo-app.js")],
  ["control-plane", () => import("./control-plane.js")],
  ["apply", () => import("./apply.js")],
  ["get", () => import("./get.js")],
  ["describe", () => import("./describe.js")],
  ["status", () => import("./status.js")],
  ["delete", () => import("./delete.js")],
  ["token", () => import("./token.js")],
  ["adopt", () => import("./adopt.js")],
  ["demo", () => import("./demo.js")],
  ["version", () => import("./version.js")],
  ["install", () => import("./install.js")],
  ["inject", () => import("./inject.js")],
  ["webhook", () => import("./webhook.js")],
  ["iptables", () => import("./iptables.js")],
];

/** The names of every command, in help order. */
export const COMMAND_NAMES: readonly string[] = COMMANDS.map(([name]) => name);

/**
 * The program for a command line (`process.argv`): when its first argument names a command, only
 * that command is registered (commander then parses exactly as with the whole tree); otherwise
 * (help, `-V`, an unknown command and its suggestions) every command is.
 */
export async function buildProgram(argv?: readonly string[]): Promise<Command> {
  const first = argv?.[2];
  const only = COMMANDS.find(([name]) => name === first);
  const program = new Command("lanemesh")
    .description("A sidecar mesh for end-to-end canary releases with lanes.")
    .version(CLIENT_VERSION, "-V, --version")
    .showHelpAfterError("(add --help for the command's flags)");
  const modules = await Promise.all((only ? [only] : COMMANDS).map(([, load]) => load()));
  for (const m of modules) m.register(program);
  for (const cmd of program.commands) requireAfterUnknown(cmd);
  return program;
}

/**
 * commander checks mandatory options before unknown ones, so `sidecar --bogus` would only say
 * "required option '--app' not specified". Here the mandatory check runs after commander's own
 * checks (unknown options, argument parsing), just before the action, with commander's message.
 */
function requireAfterUnknown(cmd: Command): void {
  const required: Option[] = cmd.options.filter((o) => o.mandatory);
  if (required.length === 0) return;
  for (const o of required) o.mandatory = false;
  cmd.hook("preAction", (self) => {
    for (const o of required) {
      if (self.getOptionValue(o.attributeName()) === undefined)
        self.error(`error: required option '${o.flags}' not specified`, {
          code: "commander.missingMandatoryOptionValue",
        });
    }
  });
}
