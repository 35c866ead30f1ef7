#!/usr/bin/env node
// The `lanemesh` command: builds the commander program from one module per command; no logic here.
import { readFileSync } from "node:fs";
import { Command } from "commander";

const pkg = JSON.parse(readFileSync(new URL("../../../package.json", import.meta.url), "utf8")) as {
  version: string;
};

/** Every command module exports `register(program)`; add one line per command below. */
const program = new Command("lanemesh")
  .description("A sidecar mesh for end-to-end canary releases with lanes.")
  .version(pkg.version, "-V, --version")
  .showHelpAfterError();

// register(program) calls, one per command module:

await program.parseAsync(process.argv);
