// The HTTP client of a running control plane's API (apply, get, delete, live config) for the CLI and the demo; it prints nothing itself but formats failures.
import { type ConfigError, formatError } from "../config/document.js";
import type { Endpoint, RuleSet } from "../config/types.js";

export const DEFAULT_SERVER = "http://127.0.0.1:15014";

export type ServerReply =
  | { ok: true; status: number; body: unknown }
  /** `message` is one or more lines, ready to print to stderr. */
  | { ok: false; status: number | null; message: string };

/**
 * One request to the control plane, with the admin token as `Authorization: Bearer` when given
 * (changes need it; reads on loopback do not). 2xx → ok with the parsed JSON body; anything else →
 * the server's own words (validation errors in `lanemesh validate` format), or one line naming an
 * unreachable server.
 */
export async function callServer(
  server: string,
  method: "GET" | "POST" | "PUT" | "DELETE",
  path: string,
  json?: unknown,
  opts: { token?: string | undefined } = {},
): Promise<ServerReply> {
  let url: URL;
  try {
    url = new URL(path, server.endsWith("/") ? server : `${server}/`);
  } catch {
    return { ok: false, status: null, message: `error: --server "${server}" is not a URL` };
  }
  let status: number;
  let text: string;
  try {
    // Loaded here, not at the top: every command imports this module (through its flags), and
    // the proxies (which never call a server) should not carry undici in memory.
    const { request } = await import("undici");
    const headers: Record<string, string> = {};
    if (opts.token !== undefined) headers.authorization = `Bearer ${opts.token}`;
    if (json !== undefined) headers["content-type"] = "application/json";
    const res = await request(url, {
      method,
      headersTimeout: 10_000,
      bodyTimeout: 30_000,
      headers,
      ...(json === undefined ? {} : { body: JSON.stringify(json) }),
    });
    status = res.statusCode;
    text = await res.body.text();
  } catch (err) {
    return { ok: false, status: null, message: unreachable(server, err) };
  }
  let body: unknown;
  try {
    body = text === "" ? null : JSON.parse(text);
  } catch {
    body = text;
  }
  if (status >= 200 && status < 300) return { ok: true, status, body };
  return { ok: false, status, message: describeFailure(status, body) };
}

/** The server's answer to a failed request, as lines for stderr. */
export function describeFailure(status: number, body: unknown): string {
  const b = body as { errors?: ConfigError[]; error?: { code?: string; message?: string } } | null;
  if (Array.isArray(b?.errors)) return b.errors.map(formatError).join("\n");
  if (b?.error?.message) return `error: ${b.error.message} (${b.error.code ?? status})`;
  return `error: control plane answered ${status}${typeof body === "string" && body ? `: ${body.trim()}` : ""}`;
}

function unreachable(server: string, err: unknown): string {
  const code = (err as { code?: string }).code;
  const why =
    code === "ECONNREFUSED"
      ? "connection refused"
      : code === "ENOTFOUND"
        ? "host not found"
        : code === "UND_ERR_HEADERS_TIMEOUT" || code === "UND_ERR_CONNECT_TIMEOUT"
          ? "timed out"
          : (err as Error).message || String(err);
  return `error: cannot reach the control plane at ${server}: ${why} (is \`lanemesh control-plane\` running? set --server or LANEMESH_SERVER)`;
}

export interface ServedConfig {
  version: string;
  rules: RuleSet;
  endpoints: Endpoint[];
}

/** The rules and endpoints the control plane serves right now (for `lanemesh explain --server`). */
export async function fetchLiveConfig(
  server: string,
  token?: string,
): Promise<{ ok: true; value: ServedConfig } | { ok: false; message: string }> {
  const r = await callServer(server, "GET", "v1/config", undefined, { token });
  if (!r.ok) return { ok: false, message: r.message };
  return { ok: true, value: r.body as ServedConfig };
}
