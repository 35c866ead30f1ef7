// Where the benchmarks' result files go (bench/results/<date>-<kind>[-<label>].json) and how they are
// written (formatted as the repository formats them); it writes files and measures nothing.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const repoRoot = fileURLToPath(new URL("../../../", import.meta.url));

function today(): string {
  const d = new Date();
  const p = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}`;
}

/** `--out FILE` when given, else bench/results/<date>-<kind>[-<label>].json. */
export function resultPath(kind: string, label?: string, out?: string): string {
  return (
    out ?? join(repoRoot, "bench/results", `${today()}-${kind}${label ? `-${label}` : ""}.json`)
  );
}

/** Writes a result file; result files are committed, so they are formatted with the project's Biome. */
export function writeResult(file: string, value: unknown): void {
  mkdirSync(join(file, ".."), { recursive: true });
  writeFileSync(file, `${JSON.stringify(value, null, 2)}\n`);
  const biome = join(repoRoot, "node_modules/.bin/biome");
  if (existsSync(biome)) spawnSync(biome, ["format", "--write", file], { stdio: "ignore" });
}
