// The built `lanemesh` executable as users start it: executable after every build, by its path and through npx, printing the package's version.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { promisify } from "node:util";
import { CLI, NO_CONTEXT, REPO } from "../helpers/procs.js";

const run = promisify(execFile);
const VERSION = (
  JSON.parse(readFileSync(join(REPO, "package.json"), "utf8")) as { version: string }
).version;
/**
 * npx may only run what is here: offline, and never installing a package of that name. On a
 * machine whose npx cache has never seen the project (CI), npx installs it from this folder and
 * would run `prepare` (a whole rebuild) in the middle of the suite: scripts are off, the suite
 * has built already.
 */
const env = {
  ...process.env,
  LANEMESH_CONFIG: NO_CONTEXT,
  npm_config_offline: "true",
  npm_config_yes: "false",
  npm_config_ignore_scripts: "true",
};

describe("the lanemesh executable", () => {
  it("package.json's bin is the built CLI, executable after `npm run build` (npm test builds first)", () => {
    const pkg = JSON.parse(readFileSync(join(REPO, "package.json"), "utf8")) as {
      bin: { lanemesh: string };
    };
    assert.equal(join(REPO, pkg.bin.lanemesh), CLI);
    const mode = statSync(CLI).mode;
    assert.equal(mode & 0o111, 0o111, `mode ${mode.toString(8)}: not executable by everyone`);
  });

  it("runs by its path, through its #! line", async () => {
    const r = await run(CLI, ["--version"], { env });
    assert.equal(r.stdout, `${VERSION}\n`);
  });

  it("npx lanemesh --version in the repository", async () => {
    const r = await run("npx", ["lanemesh", "--version"], { cwd: REPO, env });
    assert.equal(r.stdout, `${VERSION}\n`);
  });
});
