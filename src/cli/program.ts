// The `lanemesh` command tree: one register() per command module on one commander program, and the parse rules they share; it parses nothing and starts nothing.
import { Command, type Option } from "commander";
import { register as registerAdopt } from "./adopt.js";
import { register as registerApply } from "./apply.js";
import { register as registerControlPlane } from "./control-plane.js";
import { register as registerDelete } from "./delete.js";
import { register as registerDemo } from "./demo.js";
import { register as registerDemoApp } from "./demo-app.js";
import { register as registerDescribe } from "./describe.js";
import { register as registerExplain } from "./explain.js";
import { register as registerGateway } from "./gateway.js";
import { register as registerGet } from "./get.js";
import { register as registerInject } from "./inject.js";
import { register as registerInstall } from "./install.js";
import { register as registerIptables } from "./iptables.js";
import { register as registerSidecar } from "./sidecar.js";
import { register as registerStatus } from "./status.js";
import { register as registerToken } from "./token.js";
import { register as registerValidate } from "./validate.js";
import { CLIENT_VERSION, register as registerVersion } from "./version.js";
import { register as registerWebhook } from "./webhook.js";

/** Every command module exports `register(program)`; add one line per command below. */
export function buildProgram(): Command {
  const program = new Command("lanemesh")
    .description("A sidecar mesh for end-to-end canary releases with lanes.")
    .version(CLIENT_VERSION, "-V, --version")
    .showHelpAfterError("(add --help for the command's flags)");
  registerSidecar(program);
  registerGateway(program);
  registerValidate(program);
  registerExplain(program);
  registerDemoApp(program);
  registerControlPlane(program);
  registerApply(program);
  registerGet(program);
  registerDescribe(program);
  registerStatus(program);
  registerDelete(program);
  registerToken(program);
  registerAdopt(program);
  registerDemo(program);
  registerVersion(program);
  registerInstall(program);
  registerInject(program);
  registerWebhook(program);
  registerIptables(program);
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
