// Compiles the TypeScript into dist/ by building beside it and swapping folders, so a process or test that is running from dist/ never finds it empty; it never deletes the old build before the new one exists.
import { spawnSync } from "node:child_process";
import { chmodSync, cpSync, existsSync, renameSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/*
 * `npm run build` and the `prepare` script run this. `npx lanemesh` on a machine whose npx cache
 * has never seen the project installs it from this folder and runs `prepare` again; the build it
 * makes must not pull dist/ from under whatever runs from it at that moment (a demo, a test
 * suite). tsc writes dist.next/, then two renames put it in place; stale files of deleted sources
 * go with the old folder.
 */
const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const next = join(root, "dist.next");
const old = join(root, "dist.old");
const dist = join(root, "dist");
rmSync(next, { recursive: true, force: true });
const tsc = join(root, "node_modules", ".bin", "tsc");
const r = spawnSync(tsc, ["-p", join(root, "tsconfig.json"), "--outDir", next], {
  stdio: "inherit",
});
if (r.status !== 0) {
  rmSync(next, { recursive: true, force: true });
  process.exit(r.status ?? 1);
}
chmodSync(join(next, "src/cli/main.js"), 0o755);
// The web console's static files (HTML, one ES module, CSS) are shipped as they are, beside the
// compiled control plane that serves them (src/control-plane/console.ts).
cpSync(join(root, "src/control-plane/ui"), join(next, "src/control-plane/ui"), { recursive: true });
rmSync(old, { recursive: true, force: true });
if (existsSync(dist)) renameSync(dist, old);
renameSync(next, dist);
rmSync(old, { recursive: true, force: true });
