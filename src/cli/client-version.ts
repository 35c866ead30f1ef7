// The package's version as the CLI reports it (`-V`, `lanemesh version`); it reads package.json once and does nothing else.
import { readFileSync } from "node:fs";

/** The package's version (package.json at the repository or package root). */
export const CLIENT_VERSION = (
  JSON.parse(readFileSync(new URL("../../../package.json", import.meta.url), "utf8")) as {
    version: string;
  }
).version;
