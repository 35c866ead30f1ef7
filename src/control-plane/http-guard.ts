// The HTTP API's door: who may change things (the admin bearer token), from where (no cross-origin browser request), which bodies (JSON or YAML) and how large; it never reads a resource.
import { createHash, timingSafeEqual } from "node:crypto";
import type { IncomingMessage } from "node:http";
import { isConsolePath } from "./console.js";

/** Bodies larger than this are refused (413): resources are small text; split a larger batch. */
export const MAX_BODY_BYTES = 4 * 1024 * 1024;
/** Documents per request (413 above it): one apply is one validation of the whole set. */
export const MAX_DOCUMENTS = 10_000;

/** Content types a change may carry (parameters such as `charset` allowed). */
export const MEDIA_TYPES = [
  "application/json",
  "application/yaml",
  "application/x-yaml",
  "text/yaml",
] as const;

export type GuardCode =
  | "LANEMESH_UNAUTHORIZED"
  | "LANEMESH_CROSS_ORIGIN"
  | "LANEMESH_UNSUPPORTED_MEDIA_TYPE";

export interface Refusal {
  status: 401 | 403 | 415;
  code: GuardCode;
  message: string;
  headers?: Record<string, string>;
}

export interface GuardOptions {
  /** The admin token (data dir's admin.token, or --api-token-file). */
  adminToken: string;
  /** Reads without the token: true when the API listens on loopback only. */
  readsOpen: boolean;
}

/**
 * Paths any caller may read, wherever the API listens (probes and Prometheus); so are the web
 * console's static files (console.ts), which hold no data: the page then asks for the token.
 */
const ALWAYS_OPEN = new Set(["/healthz", "/metrics"]);

const CHANGES = new Set(["POST", "PUT", "DELETE", "PATCH"]);

/** The media type of a Content-Type header (lower case, no parameters), or null. */
export function mediaType(header: string | undefined): string | null {
  const t = header?.split(";")[0]?.trim().toLowerCase();
  return t ? t : null;
}

function digest(s: string): Buffer {
  return createHash("sha256").update(s).digest();
}

function bearer(req: IncomingMessage): string | undefined {
  return /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? "")?.[1];
}

/**
 * Whether a browser's `Origin` is this API's own: the very host (and port) the request was sent
 * to, over http or (behind a TLS-terminating proxy that keeps the Host) https. The web console's
 * own requests pass; a page of any other origin, another port of the same host included, does not.
 */
export function sameOrigin(origin: string, host: string | undefined): boolean {
  if (host === undefined || host === "") return false;
  const o = origin.toLowerCase();
  const h = host.toLowerCase();
  return o === `http://${h}` || o === `https://${h}`;
}

/**
 * Why the API refuses this request before reading it, or null. In order: a browser request from
 * another origin (an `Origin` that is not this API's own, see sameOrigin, or `Sec-Fetch-Site:
 * cross-site`) is 403 whatever it asks; a change (POST, PUT, DELETE) without the admin token is 401, and so is a
 * read when reads are not open; a change with a body that is not JSON or YAML is 415.
 */
export function refusal(req: IncomingMessage, path: string, opts: GuardOptions): Refusal | null {
  const origin = req.headers.origin;
  if (origin !== undefined && !sameOrigin(origin, req.headers.host))
    return {
      status: 403,
      code: "LANEMESH_CROSS_ORIGIN",
      message: `cross-origin request from ${origin} refused: the API serves no browser pages`,
    };
  if (req.headers["sec-fetch-site"] === "cross-site")
    return {
      status: 403,
      code: "LANEMESH_CROSS_ORIGIN",
      message: "cross-site browser request refused",
    };
  const method = req.method ?? "GET";
  const change = CHANGES.has(method);
  if (change || !(opts.readsOpen || ALWAYS_OPEN.has(path) || isConsolePath(path))) {
    const token = bearer(req);
    if (token === undefined || !timingSafeEqual(digest(token), digest(opts.adminToken)))
      return {
        status: 401,
        code: "LANEMESH_UNAUTHORIZED",
        message: `${token === undefined ? "no" : "wrong"} admin token: ${change ? "changes" : "reads on this address"} need Authorization: Bearer <token> (the control plane's admin.token; lanemesh --token, LANEMESH_API_TOKEN or --api-token-file)`,
        headers: { "www-authenticate": 'Bearer realm="lanemesh"' },
      };
  }
  if (method === "POST" || method === "PUT" || method === "PATCH") {
    const type = mediaType(req.headers["content-type"]);
    if (type === null || !(MEDIA_TYPES as readonly string[]).includes(type))
      return {
        status: 415,
        code: "LANEMESH_UNSUPPORTED_MEDIA_TYPE",
        message: `content type ${type ?? "(none)"} refused: send ${MEDIA_TYPES.join(", ")}`,
      };
  }
  return null;
}

/**
 * How many YAML documents `text` holds at most (document markers at a line start, plus one),
 * counted before parsing so that a flood of empty documents costs no parse.
 */
export function yamlDocumentsAtMost(text: string): number {
  let n = 1;
  for (let i = text.indexOf("---"); i >= 0; i = text.indexOf("---", i + 3))
    if (i === 0 || text[i - 1] === "\n") n++;
  return n;
}
