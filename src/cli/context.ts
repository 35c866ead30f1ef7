// The CLI's context file, a small kubeconfig: which control plane (URL, token) the commands talk to when no --server is given, and who wrote it; it reads and writes that one file, it never talks to a server.
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { parse, stringify } from "yaml";

/** The environment variable that names the context file. */
export const CONTEXT_ENV = "LANEMESH_CONFIG";

/** One control plane the CLI can talk to. */
export interface Context {
  name: string;
  /** Base URL of the HTTP API, e.g. `http://127.0.0.1:15014`. */
  server: string;
  /** `host:port` of the gRPC port proxies stream from (informational). */
  controlPlane?: string;
  /** Bearer token for the HTTP API, when it requires one. */
  token?: string;
  /** The process that wrote the context (`lanemesh demo`): once it is gone the context is stale. */
  pid?: number;
}

export interface ContextFile {
  current: string | null;
  contexts: Context[];
}

/** `$LANEMESH_CONFIG`, else `~/.lanemesh/config`. */
export function contextPath(env: NodeJS.ProcessEnv = process.env): string {
  const given = env[CONTEXT_ENV];
  return given !== undefined && given !== "" ? given : join(homedir(), ".lanemesh", "config");
}

/** The file's contexts; a missing file is an empty one, an unreadable one an error. */
export function readContexts(
  path: string,
): { ok: true; file: ContextFile } | { ok: false; message: string } {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT")
      return { ok: true, file: { current: null, contexts: [] } };
    return { ok: false, message: `${path}: cannot read: ${(err as Error).message}` };
  }
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (err) {
    return { ok: false, message: `${path}: not YAML: ${(err as Error).message}` };
  }
  const v = (doc ?? {}) as { "current-context"?: unknown; contexts?: unknown };
  if (typeof v !== "object" || (v.contexts !== undefined && !Array.isArray(v.contexts)))
    return { ok: false, message: `${path}: not a lanemesh context file (contexts must be a list)` };
  const contexts: Context[] = [];
  for (const raw of (v.contexts ?? []) as Record<string, unknown>[]) {
    if (typeof raw?.name !== "string" || typeof raw.server !== "string")
      return { ok: false, message: `${path}: every context needs a name and a server` };
    const c: Context = { name: raw.name, server: raw.server };
    if (typeof raw["control-plane"] === "string") c.controlPlane = raw["control-plane"];
    if (typeof raw.token === "string" && raw.token !== "") c.token = raw.token;
    if (typeof raw.pid === "number") c.pid = raw.pid;
    contexts.push(c);
  }
  const current = typeof v["current-context"] === "string" ? v["current-context"] : null;
  return { ok: true, file: { current, contexts } };
}

/** True while process `pid` exists (EPERM: it exists, owned by someone else). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

export type CurrentContext =
  | { kind: "none" }
  | { kind: "live"; context: Context }
  /** Written by a process that is gone (a killed demo): not to be used. */
  | { kind: "stale"; context: Context }
  | { kind: "broken"; message: string };

/** The current context of the file at `path`. */
export function currentContext(path: string): CurrentContext {
  const r = readContexts(path);
  if (!r.ok) return { kind: "broken", message: r.message };
  const c = r.file.contexts.find((x) => x.name === r.file.current);
  if (c === undefined) return { kind: "none" };
  if (c.pid !== undefined && !processAlive(c.pid)) return { kind: "stale", context: c };
  return { kind: "live", context: c };
}

/** Add or replace the context by name and make it current. Throws when the file cannot be written. */
export function useContext(path: string, context: Context): void {
  const r = readContexts(path);
  const others = r.ok ? r.file.contexts.filter((c) => c.name !== context.name) : [];
  write(path, { current: context.name, contexts: [...others, context] });
}

/**
 * Remove the context `name` if `pid` wrote it (a later demo that took the name over keeps it);
 * the file goes when no context is left. Never throws: it runs while a process exits.
 */
export function dropContext(path: string, name: string, pid: number): void {
  try {
    const r = readContexts(path);
    if (!r.ok) return;
    const mine = r.file.contexts.find((c) => c.name === name);
    if (mine === undefined || mine.pid !== pid) return;
    const rest = r.file.contexts.filter((c) => c !== mine);
    if (rest.length === 0) {
      rmSync(path, { force: true });
      return;
    }
    const current = r.file.current === name ? (rest.at(-1)?.name ?? null) : r.file.current;
    write(path, { current, contexts: rest });
  } catch {
    // best effort: a stale context is recognized by its pid anyway
  }
}

const HEADER = `# lanemesh context file: the control plane that lanemesh apply, get, describe, delete,
# explain and version talk to when neither --server nor LANEMESH_SERVER is given.
# Written by \`lanemesh demo\`; a context whose pid is gone is ignored.
`;

/** Replace the file whole (temp file + rename), readable by its owner only: it may hold a token. */
function write(path: string, file: ContextFile): void {
  const body = {
    apiVersion: "lanemesh.io/v1alpha1",
    kind: "Config",
    "current-context": file.current,
    contexts: file.contexts.map((c) => ({
      name: c.name,
      server: c.server,
      ...(c.controlPlane === undefined ? {} : { "control-plane": c.controlPlane }),
      ...(c.token === undefined ? {} : { token: c.token }),
      ...(c.pid === undefined ? {} : { pid: c.pid }),
    })),
  };
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, `${HEADER}${stringify(body)}`, { mode: 0o600 });
  renameSync(tmp, path);
}
