#!/usr/bin/env node
// The `lanemesh` command: builds the commander program from one module per command; no logic here.
import { readFileSync } from "node:fs";
import { Command } from "commander";
import { register as registerAdopt } from "./adopt.js";
import { register as registerApply } from "./apply.js";
import { register as registerControlPlane } from "./control-plane.js";
import { register as registerDelete } from "./delete.js";
import { register as registerDemo } from "./demo.js";
import { register as registerDemoApp } from "./demo-app.js";
import { register as registerExplain } from "./explain.js";
import { register as registerGateway } from "./gateway.js";
import { register as registerGet } from "./get.js";
import { register as registerSidecar } from "./sidecar.js";
import { register as registerToken } from "./token.js";
import { register as registerValidate } from "./validate.js";

const pkg = JSON.parse(readFileSync(new URL("../../../package.json", import.meta.url), "utf8")) as {
  version: string;
};

/** Every command module exports `register(program)`; add one line per command below. */
const program = new Command("lanemesh")
  .description("A sidecar mesh for end-to-end canary releases with lanes.")
  .version(pkg.version, "-V, --version")
  .showHelpAfterError();

// register(program) calls, one per command module:
registerSidecar(program);
registerGateway(program);
registerValidate(program);
registerExplain(program);
registerDemoApp(program);
registerControlPlane(program);
registerApply(program);
registerGet(program);
registerDelete(program);
registerToken(program);
registerAdopt(program);
registerDemo(program);

await program.parseAsync(process.argv);
