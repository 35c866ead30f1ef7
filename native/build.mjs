// Builds native/build/Release/original_dst.node (SO_ORIGINAL_DST for transparent interception) with the node-gyp that ships with npm; it never downloads anything.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/*
 * Run by `npm ci` (the `prepare` script). Needs what node-gyp needs: python3, make and a C
 * compiler, and the Node headers of the running node, found beside it (`<prefix>/include/node`:
 * /usr for Debian's nodejs, /usr/local for the official images); nothing is downloaded.
 * A failed build only warns (the CLI works without the addon, but `sidecar --intercept` refuses
 * to start), unless LANEMESH_NATIVE_REQUIRED=1 (the container build sets it): then it fails.
 */
const here = dirname(fileURLToPath(import.meta.url));
const required = process.env.LANEMESH_NATIVE_REQUIRED === "1";

function give(message) {
  process.stderr.write(`lanemesh native addon: ${message}\n`);
  process.exit(required ? 1 : 0);
}

if (process.platform !== "linux") give("skipped (SO_ORIGINAL_DST exists on Linux only)");
const prefix = dirname(dirname(process.execPath));
if (!existsSync(join(prefix, "include", "node", "node_api.h"))) {
  give(`not built: no Node headers under ${prefix}/include/node (interception unavailable)`);
}
let gyp = process.env.npm_config_node_gyp;
if (gyp === undefined || !existsSync(gyp)) {
  try {
    const npm = createRequire(join(prefix, "lib", "node_modules", "npm", "package.json"));
    gyp = npm.resolve("node-gyp/bin/node-gyp.js");
  } catch {
    give("not built: node-gyp (shipped with npm) not found (interception unavailable)");
  }
}
const run = spawnSync(
  process.execPath,
  [gyp, "rebuild", "--silent", `--nodedir=${prefix}`, `--directory=${here}`],
  { stdio: "inherit" },
);
if (run.status !== 0) {
  give("build failed (see above): `lanemesh sidecar --intercept` will refuse to start");
}
