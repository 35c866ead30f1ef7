// The CLI's side of talking to a control plane: the `--server` flag, the admin token's lookup (one function) and kubectl-style resource references; the HTTP client itself is control-plane/api-client.ts.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { type Command, Option } from "commander";
import { DEFAULT_SERVER } from "../control-plane/api-client.js";
import { ADMIN_TOKEN_FILE } from "../control-plane/secrets.js";
import { defaultDataDir } from "./data-dir.js";

/** `--server URL` (env LANEMESH_SERVER), shared by apply, get, delete and live explain. */
export function serverOption(): Option {
  return new Option("--server <URL>", "control plane HTTP API")
    .env("LANEMESH_SERVER")
    .default(DEFAULT_SERVER);
}

/** The flags naming the admin token; see apiToken for the order they are looked at. */
export interface TokenFlags {
  token?: string;
  apiTokenFile?: string;
}

/** `--token` and `--api-token-file` (envs LANEMESH_API_TOKEN, LANEMESH_API_TOKEN_FILE). */
export function addTokenOptions(cmd: Command): Command {
  return cmd
    .addOption(
      new Option("--token <TOKEN>", "admin token of the control plane's HTTP API").env(
        "LANEMESH_API_TOKEN",
      ),
    )
    .addOption(
      new Option("--api-token-file <FILE>", "file holding the admin token").env(
        "LANEMESH_API_TOKEN_FILE",
      ),
    );
}

export type TokenLookup = { ok: true; token: string | undefined } | { ok: false; message: string };

/**
 * The admin token to send, looked up in one place: `--token` (or LANEMESH_API_TOKEN), else
 * `--api-token-file` (or LANEMESH_API_TOKEN_FILE), else the admin.token of the data dir of a
 * control plane on this machine (LANEMESH_DATA_DIR, else the default data dir) when this user can
 * read it; else none (reads on loopback need none).
 */
export function apiToken(
  flags: TokenFlags,
  dataDir: () => string = () => process.env.LANEMESH_DATA_DIR || defaultDataDir(),
): TokenLookup {
  if (flags.token !== undefined && flags.token !== "") return { ok: true, token: flags.token };
  if (flags.apiTokenFile !== undefined) {
    try {
      const token = readFileSync(flags.apiTokenFile, "utf8").trim();
      if (token === "") return { ok: false, message: `error: ${flags.apiTokenFile} is empty` };
      return { ok: true, token };
    } catch (err) {
      return {
        ok: false,
        message: `error: cannot read ${flags.apiTokenFile}: ${(err as Error).message}`,
      };
    }
  }
  try {
    const token = readFileSync(join(dataDir(), ADMIN_TOKEN_FILE), "utf8").trim();
    return { ok: true, token: token === "" ? undefined : token };
  } catch {
    return { ok: true, token: undefined };
  }
}

/** kubectl-style resource reference: `lane.lanemesh.io/gray`. */
export function resourceRef(kind: string, name: string): string {
  return `${kind.toLowerCase()}.lanemesh.io/${name}`;
}
