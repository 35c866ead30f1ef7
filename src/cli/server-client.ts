// The CLI's side of talking to a control plane: the `--server` and token flags and which server and admin token a command uses (flag, env, context file, local data dir, default); the HTTP client itself is control-plane/api-client.ts.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { type Command, Option } from "commander";
import { DEFAULT_SERVER } from "../control-plane/api-client.js";
import { ADMIN_TOKEN_FILE } from "../control-plane/secrets.js";
import { CONTEXT_ENV, contextPath, currentContext } from "./context.js";
import { defaultDataDir } from "./data-dir.js";

/** `--server URL` (env LANEMESH_SERVER), shared by apply, get, describe, delete, explain, version. */
export function serverOption(): Option {
  return new Option(
    "--server <URL>",
    `control plane HTTP API [env LANEMESH_SERVER, else the current context of $${CONTEXT_ENV} or ~/.lanemesh/config, else ${DEFAULT_SERVER}]`,
  ).env("LANEMESH_SERVER");
}

/** The control plane a command talks to, and where that choice came from. */
export interface ServerTarget {
  server: string;
  /** Admin token for the API when the context holds one, else null. */
  token: string | null;
  from: "flag" | "env" | "context" | "default";
}

/**
 * `--server`, else LANEMESH_SERVER, else the current context of the context file (a running
 * `lanemesh demo` writes one), else the default. A stale or unreadable context is named on stderr
 * and skipped.
 */
export function serverTarget(cmd: Command): ServerTarget {
  const given = cmd.getOptionValue("server") as string | undefined;
  if (given !== undefined) {
    const from = cmd.getOptionValueSource("server") === "env" ? "env" : "flag";
    return { server: given, token: null, from };
  }
  const path = contextPath();
  const c = currentContext(path);
  if (c.kind === "live")
    return { server: c.context.server, token: c.context.token ?? null, from: "context" };
  if (c.kind === "stale")
    process.stderr.write(
      `note: ignoring context "${c.context.name}" of ${path}: the process that wrote it (pid ${c.context.pid}) is gone; using ${DEFAULT_SERVER}\n`,
    );
  if (c.kind === "broken") process.stderr.write(`note: ignoring ${c.message}\n`);
  return { server: DEFAULT_SERVER, token: null, from: "default" };
}

/** The flags naming the admin token; see apiToken for the order they are looked at. */
export interface TokenFlags {
  token?: string;
  apiTokenFile?: string;
}

/** `--token TOKEN` (env LANEMESH_API_TOKEN): the admin token of the control plane's HTTP API. */
export function tokenOption(): Option {
  return new Option("--token <TOKEN>", "admin token of the control plane's HTTP API").env(
    "LANEMESH_API_TOKEN",
  );
}

/** `--api-token-file FILE` (env LANEMESH_API_TOKEN_FILE). */
export function tokenFileOption(): Option {
  return new Option("--api-token-file <FILE>", "file holding the admin token").env(
    "LANEMESH_API_TOKEN_FILE",
  );
}

/** `--token` and `--api-token-file`. */
export function addTokenOptions(cmd: Command): Command {
  return cmd.addOption(tokenOption()).addOption(tokenFileOption());
}

export type TokenLookup = { ok: true; token: string | undefined } | { ok: false; message: string };

/**
 * The admin token to send, looked up in one place: `--token` (or LANEMESH_API_TOKEN), else
 * `--api-token-file` (or LANEMESH_API_TOKEN_FILE), else the token of the current context (a demo
 * writes its own), else the admin.token of the data dir of a control plane on this machine
 * (LANEMESH_DATA_DIR, else the default data dir) when this user can read it; else none (reads on
 * loopback need none).
 */
export function apiToken(
  flags: TokenFlags,
  contextToken: string | null = null,
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
  if (contextToken !== null && contextToken !== "") return { ok: true, token: contextToken };
  try {
    const token = readFileSync(join(dataDir(), ADMIN_TOKEN_FILE), "utf8").trim();
    return { ok: true, token: token === "" ? undefined : token };
  } catch {
    return { ok: true, token: undefined };
  }
}

/** Where a command sends its requests and with which admin token. */
export type Connection =
  | { ok: true; server: string; token: string | undefined; from: ServerTarget["from"] }
  | { ok: false; message: string };

/** serverTarget and apiToken together, for a command with serverOption and the token options. */
export function connection(cmd: Command): Connection {
  const target = serverTarget(cmd);
  const token = apiToken(cmd.opts() as TokenFlags, target.token);
  if (!token.ok) return token;
  return { ok: true, server: target.server, token: token.token, from: target.from };
}

/** connection(), or null after printing why not and setting the exit code. */
export function connectOrFail(
  cmd: Command,
): { server: string; token: string | undefined; from: ServerTarget["from"] } | null {
  const c = connection(cmd);
  if (c.ok) return c;
  process.stderr.write(`${c.message}\n`);
  process.exitCode = 1;
  return null;
}
