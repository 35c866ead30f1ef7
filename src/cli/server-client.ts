// The CLI's side of talking to a control plane: the `--server` flag and which server and token a command uses (flag, env, context file, default); the HTTP client itself is control-plane/api-client.ts.
import { type Command, Option } from "commander";
import { DEFAULT_SERVER } from "../control-plane/api-client.js";
import { CONTEXT_ENV, contextPath, currentContext } from "./context.js";

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
  /** Bearer token for the API when the context holds one, else null. */
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
